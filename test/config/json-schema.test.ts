import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { clusterJsonSchema, clusterJsonSchemaText } from '../../src/config/json-schema.js';
import { seedLab, seedLabText } from './bad-spec-cases.js';

describe('schema/cluster.schema.json', () => {
  const shipped = readFileSync(new URL('../../schema/cluster.schema.json', import.meta.url), 'utf8');

  it('is generated from the same definition as the types (run `npm run gen:schema` when this fails)', () => {
    expect(shipped).toBe(clusterJsonSchemaText());
  });

  it('is referenced by cluster.yaml for editors', () => {
    expect(seedLabText.split('\n')[0]).toBe('# yaml-language-server: $schema=./schema/cluster.schema.json');
  });

  it('accepts the seed lab and rejects a typo, as an editor would', () => {
    const validate = new Ajv({ strict: false }).compile(clusterJsonSchema());
    expect(validate(yaml.load(seedLabText, { schema: yaml.CORE_SCHEMA }))).toBe(true);
    const typo = seedLab();
    typo.nodes[0].natAdress = typo.nodes[0].natAddress;
    expect(validate(typo)).toBe(false);
  });
});
