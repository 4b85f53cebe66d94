import { readFile } from 'node:fs/promises';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { describe, expect, it } from 'vitest';

describe('generated vmrest types', () => {
  it('match vmrest-api.yaml (run `npm run gen:vmrest-types` after editing the document)', async () => {
    const document = new URL('../../src/vmrest/vmrest-api.yaml', import.meta.url);
    const fresh = `${COMMENT_HEADER}${astToString(await openapiTS(document, { silent: true }))}`;
    const committed = await readFile(
      new URL('../../src/vmrest/vmrest-api.generated.ts', import.meta.url),
      'utf8',
    );
    expect(
      committed === fresh,
      'src/vmrest/vmrest-api.generated.ts is stale: run `npm run gen:vmrest-types`',
    ).toBe(true);
  });
});
