// Writes schema/cluster.schema.json from the built TypeBox definition (run via `npm run gen:schema`).
import { writeFileSync } from 'node:fs';
import { clusterJsonSchemaText } from '../dist/src/config/json-schema.js';

writeFileSync(new URL('../schema/cluster.schema.json', import.meta.url), clusterJsonSchemaText());
console.log('wrote schema/cluster.schema.json');
