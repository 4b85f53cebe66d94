// Writes schema/cluster.schema.json and src/config/shape-validator.generated.ts from the built TypeBox
// definition (run via `npm run gen:schema`).
import { writeFileSync } from 'node:fs';
import {
  clusterJsonSchemaText,
  clusterShapeValidatorSource,
  SHAPE_VALIDATOR_FILE,
} from '../dist/src/config/json-schema.js';

writeFileSync(new URL('../schema/cluster.schema.json', import.meta.url), clusterJsonSchemaText());
console.log('wrote schema/cluster.schema.json');
writeFileSync(new URL(`../${SHAPE_VALIDATOR_FILE}`, import.meta.url), clusterShapeValidatorSource());
console.log(`wrote ${SHAPE_VALIDATOR_FILE}`);
