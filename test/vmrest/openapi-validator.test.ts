import { describe, expect, it } from 'vitest';
import type { SimulatorExchange } from '../../simulators/vmrest-simulator.js';
import { OpenApiExchangeValidator } from './openapi-validator.js';

const MEDIA = 'application/vnd.vmware.vmw.rest-v1+json';
const base: SimulatorExchange = {
  operation: 'setPowerState',
  method: 'PUT',
  path: '/vms/ABC/power',
  params: { id: 'ABC' },
  accept: MEDIA,
  contentType: MEDIA,
  requestBody: 'on',
  status: 200,
  responseContentType: MEDIA,
  responseBody: { power_state: 'poweredOn' },
  fault: undefined,
};

function violations(change: Partial<SimulatorExchange>): string[] {
  const validator = new OpenApiExchangeValidator();
  validator.check({ ...base, ...change });
  return validator.violations;
}

describe('the OpenAPI exchange validator catches drift', () => {
  it('accepts a conforming exchange and both error-body spellings', () => {
    expect(violations({})).toEqual([]);
    expect(violations({ status: 409, responseBody: { Code: 107, Message: 'busy' } })).toEqual([]);
    expect(violations({ status: 409, responseBody: { code: 107, message: 'busy' } })).toEqual([]);
  });

  it('rejects a quoted power body, a wrong media type, a bad reply and an undocumented success status', () => {
    expect(violations({ requestBody: '"on"' }).join()).toMatch(/request: .*allowed values/);
    expect(violations({ contentType: 'application/json' }).join()).toMatch(/Content-Type/);
    expect(violations({ accept: undefined }).join()).toMatch(/Accept/);
    expect(violations({ responseBody: { power_state: 'running' } }).join()).toMatch(/200 reply/);
    expect(violations({ status: 409, responseBody: { error: 'busy' } }).join()).toMatch(/409 reply/);
    expect(violations({ status: 201 }).join()).toMatch(/success status 201 not documented/);
    expect(
      violations({
        operation: 'deleteVm',
        method: 'DELETE',
        requestBody: '',
        contentType: undefined,
        status: 204,
        responseBody: { x: 1 },
      }).join(),
    ).toMatch(/must have no body/);
  });
});
