/**
 * The few vmrest operations the template needs, as a port: build.ts and
 * golden.ts depend on this, and src/commands/build-template.ts plugs in the
 * real client (src/vmrest/). Keeping it this narrow lets tests and the
 * simulator share one code path with the product.
 */
import path from 'node:path';

export type PowerState = 'poweredOn' | 'poweredOff' | 'suspended' | 'paused' | string;

export interface TemplateVmrest {
  /** GET /vms */
  listVms(): Promise<Array<{ id: string; path: string }>>;
  /** POST /vms/registration {name, path} */
  registerVm(name: string, vmxPath: string): Promise<{ id: string; path: string }>;
  /** GET /vms/{id}/power */
  powerState(id: string): Promise<PowerState>;
  /** PUT /vms/{id}/power with the bare word */
  setPower(id: string, operation: 'on' | 'off' | 'shutdown'): Promise<PowerState>;
}

/** Windows paths compare case-insensitively and with either slash; vmrest may report either. */
export function sameVmxPath(a: string, b: string): boolean {
  const norm = (p: string): string => {
    const windowsLike = /^[a-zA-Z]:[\\/]|^\\\\/.test(p);
    return windowsLike ? path.win32.normalize(p).toLowerCase() : path.posix.normalize(p);
  };
  return norm(a) === norm(b);
}

export async function findVmByPath(vmrest: Pick<TemplateVmrest, 'listVms'>, vmxPath: string): Promise<{ id: string; path: string } | undefined> {
  return (await vmrest.listVms()).find((vm) => sameVmxPath(vm.path, vmxPath));
}
