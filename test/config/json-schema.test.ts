import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  clusterJsonSchema,
  clusterJsonSchemaText,
  clusterShapeValidatorSource,
  SHAPE_VALIDATOR_FILE,
} from '../../src/config/json-schema.js';
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

describe(SHAPE_VALIDATOR_FILE, () => {
  it("is ajv's code for the same definition (run `npm run gen:schema` when this fails)", () => {
    // One long line of code: compare without printing a 100 KB diff.
    const stale =
      readFileSync(new URL(`../../${SHAPE_VALIDATOR_FILE}`, import.meta.url), 'utf8') !==
      clusterShapeValidatorSource();
    expect(stale, `${SHAPE_VALIDATOR_FILE} is stale: run npm run gen:schema`).toBe(false);
  });
});
