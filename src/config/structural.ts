/**
 * Shape checks (types, unknown keys, required keys, patterns) by ajv against
 * the TypeBox schema, with ajv's terse errors rewritten into messages that
 * name the field, the bad value, and what would be valid. The validator is
 * ajv's code generated at build time (see json-schema.ts), so no schema is
 * compiled when a command starts.
 */
import type { ErrorObject } from 'ajv';
import { closest, distance } from 'fastest-levenshtein';
import { addonRelease, type AddonName } from '../addons/catalog.js';
import { fieldPath, showValue, type SpecProblem } from './problems.js';
import { validateClusterShape as validateShape } from './shape-validator.generated.js';

type SchemaNode = {
  description?: string;
  'x-expected'?: string;
  properties?: Record<string, unknown>;
  anyOf?: Array<{ const?: unknown }>;
  const?: unknown;
};

function segmentsOf(instancePath: string): string[] {
  return instancePath === ''
    ? []
    : instancePath
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a whole number' : 'a number';
  return `a ${typeof value}`;
}

/** Choices people still find in guides, with the reason kubestation does not offer them. */
const retiredChoices: Record<string, Record<string, string>> = {
  'kubernetes.cni.name': {
    weave:
      'Weave Net is archived (Weaveworks shut down in 2024 and nobody maintains it for current Kubernetes)',
  },
};

/**
 * Keys earlier versions accepted, with why they are gone and what to do instead: a setting that
 * promised what kubestation cannot do is removed rather than silently ignored.
 */
const removedKeys: Record<string, string> = {
  'vmware.vmFolder':
    "was removed: vmrest cannot choose where a clone goes, so the node VMs always land in Workstation's default VM folder, which kubestation reads from %APPDATA%\\VMware\\preferences.ini (the template stays in the state folder). Delete this line; to put the VMs on another drive, change Edit > Preferences > Workspace > Default location for virtual machines in Workstation",
};

/**
 * `addons.<name>.version` (or chart, image, manifestUrl): a release is pinned in kubestation with its
 * vendored manifests and their sha256, so a version written here could not be honoured. The message names
 * the pinned one.
 */
function pinnedAddonKey(segments: string[], key: string): string | undefined {
  const addon = segments.length === 2 && segments[0] === 'addons' ? (segments[1] as AddonName) : undefined;
  if (!addon || !['loadBalancer', 'storage', 'metrics', 'gateway'].includes(addon)) return undefined;
  if (!/^(version|tag|chart|image|manifests?|manifestUrls?|url)$/i.test(key)) return undefined;
  const release = addonRelease(addon);
  return `cannot be set: kubestation pins ${release.component} ${release.version} (its manifests and their sha256 are in the repository, under addons/), and only a pinned release is applied. Delete this line; to leave ${release.component} out, set addons.${addon}.enabled: false`;
}

const expectedType: Record<string, string> = {
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping of keys',
  array: 'a list',
};

/** "did you mean" for a mistyped key, when one known key is close enough to be the intent. */
export function suggestKey(unknown: string, known: string[]): string | undefined {
  if (known.length === 0) return undefined;
  const lower = unknown.toLowerCase();
  const caseMatch = known.find((k) => k.toLowerCase() === lower);
  if (caseMatch) return caseMatch;
  const best = closest(unknown, known);
  return distance(unknown, best) <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

function describe(error: ErrorObject): SpecProblem | undefined {
  const segments = segmentsOf(error.instancePath);
  const path = fieldPath(segments);
  const schema = (error.parentSchema ?? {}) as SchemaNode;
  const expected = schema['x-expected'];
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      const removed = removedKeys[fieldPath([...segments, key])];
      if (removed) return { path: fieldPath([...segments, key]), message: removed };
      const pinned = pinnedAddonKey(segments, key);
      if (pinned) return { path: fieldPath([...segments, key]), message: pinned };
      const known = Object.keys(schema.properties ?? {}).filter((k) => k !== '$schema');
      const suggestion = suggestKey(key, known);
      return {
        path: fieldPath([...segments, key]),
        message: `unknown key ${JSON.stringify(key)}${suggestion ? ` (did you mean ${JSON.stringify(suggestion)}?)` : ''}; valid keys here: ${known.join(', ')}`,
      };
    }
    case 'required': {
      const key = (error.params as { missingProperty: string }).missingProperty;
      const child = (schema.properties?.[key] ?? {}) as SchemaNode;
      return {
        path: fieldPath([...segments, key]),
        message: `is required but missing${child.description ? ` (${child.description})` : ''}`,
      };
    }
    case 'type': {
      const want = (error.params as { type: string }).type;
      const hint = expected ?? expectedType[want] ?? want;
      const quoteHint =
        want === 'string' && typeof error.data === 'number'
          ? ' (put it in quotes so YAML keeps it as text)'
          : '';
      const got =
        typeof error.data === 'object' && error.data !== null
          ? `is ${typeName(error.data)}`
          : `${showValue(error.data)} is ${typeName(error.data)}`;
      return { path, message: `${got}; expected ${hint}${quoteHint}` };
    }
    case 'const':
      return {
        path,
        message: `${showValue(error.data)} is not allowed; the only valid value is ${showValue(schema.const)}${schema.description ? ` (${schema.description})` : ''}`,
      };
    case 'anyOf': {
      const choices = (schema.anyOf ?? []).map((b) => b.const).filter((c) => c !== undefined);
      const why =
        typeof error.data === 'string' ? retiredChoices[path]?.[error.data.toLowerCase()] : undefined;
      if (why)
        return {
          path,
          message: `${showValue(error.data)} is not supported: ${why}. Choose one of: ${choices.map(showValue).join(', ')}`,
        };
      if (choices.length > 0)
        return {
          path,
          message: `${showValue(error.data)} is not one of: ${choices.map(showValue).join(', ')}`,
        };
      return { path, message: `${showValue(error.data)} is not valid here` };
    }
    case 'pattern':
      return { path, message: `${showValue(error.data)} is not ${expected ?? 'in the expected form'}` };
    case 'minLength':
      return { path, message: 'must not be empty' };
    case 'minimum':
    case 'maximum': {
      const limit = (error.params as { limit: number }).limit;
      return {
        path,
        message: `${showValue(error.data)} is ${error.keyword === 'minimum' ? 'below the minimum' : 'above the maximum'} of ${limit}`,
      };
    }
    case 'minItems':
    case 'maxItems': {
      const limit = (error.params as { limit: number }).limit;
      return {
        path,
        message: `has ${(error.data as unknown[]).length} entries; ${error.keyword === 'minItems' ? 'at least' : 'at most'} ${limit} allowed`,
      };
    }
    default:
      return { path, message: error.message ?? `failed check ${error.keyword}` };
  }
}

/** Returns every shape problem; an empty list means the document has cluster.yaml's shape. */
export function checkShape(document: unknown): SpecProblem[] {
  if (validateShape(document)) return [];
  const errors = validateShape.errors ?? [];
  // A union of literals reports one error per branch plus the union itself: keep the union's.
  const unions = errors
    .filter((e) => e.keyword === 'anyOf')
    .map((e) => e.schemaPath.replace(/\/anyOf$/, '/anyOf/'));
  const kept = errors.filter(
    (e) => e.keyword === 'anyOf' || !unions.some((prefix) => e.schemaPath.startsWith(prefix)),
  );
  return kept.map(describe).filter((p): p is SpecProblem => p !== undefined);
}
