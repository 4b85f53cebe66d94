import { ClusterFileSchema } from './schema.js';

/** The JSON Schema shipped as schema/cluster.schema.json, derived from the one TypeBox definition. */
export function clusterJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...JSON.parse(JSON.stringify(ClusterFileSchema)),
  };
}

export function clusterJsonSchemaText(): string {
  return `${JSON.stringify(clusterJsonSchema(), null, 2)}\n`;
}
