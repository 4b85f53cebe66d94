/**
 * Checks simulator exchanges against kubestation's vmrest OpenAPI document
 * (src/vmrest/vmrest-api.yaml) with ajv: request media types and bodies the
 * client sends, and status codes, media types and bodies the simulator
 * returns. A test that uses the simulator fails when either side drifts from
 * the document.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import yaml from 'js-yaml';
import type { SimulatorExchange } from '../../simulators/vmrest-simulator.js';

const documentPath = fileURLToPath(new URL('../../src/vmrest/vmrest-api.yaml', import.meta.url));
const MEDIA = 'application/vnd.vmware.vmw.rest-v1+json';

interface OperationShape {
  pointer: string;
  hasRequestBody: boolean;
  responses: Record<string, { hasContent: boolean }>;
}

type Doc = {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId?: string;
        requestBody?: unknown;
        responses: Record<string, { content?: unknown; $ref?: string }>;
      }
    >
  >;
};

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

export class OpenApiExchangeValidator {
  readonly violations: string[] = [];
  readonly #ajv = new Ajv({ strict: false, allErrors: true });
  readonly #operations = new Map<string, OperationShape>();
  readonly #compiled = new Map<string, ValidateFunction>();

  constructor(readonly options: { checkRequests: boolean } = { checkRequests: true }) {
    const doc = yaml.load(readFileSync(documentPath, 'utf8')) as Doc;
    this.#ajv.addSchema(doc as object, 'vmrest-api');
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!op || typeof op !== 'object' || !op.operationId) continue;
        const responses: OperationShape['responses'] = {};
        for (const [status, response] of Object.entries(op.responses))
          responses[status] = { hasContent: response.content !== undefined || response.$ref !== undefined };
        this.#operations.set(op.operationId, {
          pointer: `/paths/${escapePointer(p)}/${method}`,
          hasRequestBody: op.requestBody !== undefined,
          responses,
        });
      }
    }
  }

  #validator(pointer: string): ValidateFunction {
    let fn = this.#compiled.get(pointer);
    if (!fn) {
      fn = this.#ajv.compile({ $ref: `vmrest-api#${pointer}` });
      this.#compiled.set(pointer, fn);
    }
    return fn;
  }

  #check(label: string, pointer: string, value: unknown): void {
    const validate = this.#validator(pointer);
    if (!validate(value))
      this.violations.push(`${label}: ${this.#ajv.errorsText(validate.errors)} in ${JSON.stringify(value)}`);
  }

  /** Records every way the exchange departs from the document. */
  check(exchange: SimulatorExchange): void {
    const label = `${exchange.method} ${exchange.path}`;
    if (!exchange.operation) {
      this.violations.push(`${label}: not an operation of vmrest-api.yaml`);
      return;
    }
    const op = this.#operations.get(exchange.operation);
    if (!op) {
      this.violations.push(`${label}: operation ${exchange.operation} missing from vmrest-api.yaml`);
      return;
    }
    if (this.options.checkRequests) {
      if (exchange.accept !== MEDIA) this.violations.push(`${label}: request Accept is ${exchange.accept}`);
      if (op.hasRequestBody) {
        if (exchange.contentType !== MEDIA)
          this.violations.push(`${label}: request Content-Type is ${exchange.contentType}`);
        const pointer = `${op.pointer}/requestBody/content/${escapePointer(MEDIA)}/schema`;
        if (exchange.operation === 'setPowerState') {
          this.#check(`${label} request`, pointer, exchange.requestBody);
        } else {
          let body: unknown;
          try {
            body = JSON.parse(exchange.requestBody);
          } catch {
            this.violations.push(`${label}: request body is not JSON: ${exchange.requestBody}`);
          }
          if (body !== undefined) this.#check(`${label} request`, pointer, body);
        }
      } else if (exchange.requestBody !== '') {
        this.violations.push(`${label}: request has a body but the operation takes none`);
      }
    }
    if (exchange.status === undefined) return; // fault: no reply
    const key = String(exchange.status) in op.responses ? String(exchange.status) : 'default';
    const response = op.responses[key];
    if (!response) {
      this.violations.push(`${label}: status ${exchange.status} not documented`);
      return;
    }
    if (exchange.status >= 200 && exchange.status < 300 && key === 'default')
      this.violations.push(`${label}: success status ${exchange.status} not documented`);
    if (!response.hasContent) {
      if (exchange.responseBody !== undefined)
        this.violations.push(`${label}: ${exchange.status} must have no body`);
      return;
    }
    if (exchange.responseContentType !== MEDIA)
      this.violations.push(`${label}: response Content-Type is ${exchange.responseContentType}`);
    const base = key === 'default' ? '/components/responses/Error' : `${op.pointer}/responses/${key}`;
    this.#check(
      `${label} ${exchange.status} reply`,
      `${base}/content/${escapePointer(MEDIA)}/schema`,
      exchange.responseBody,
    );
  }
}
