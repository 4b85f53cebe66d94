/**
 * The vmrest calls the template build makes, as a narrow slice of
 * VmrestClient (src/vmrest/client.ts): build.ts and golden.ts depend on
 * this, so anything offering these methods (the real client against vmrest
 * or the simulator) drives them.
 */
import type { VmrestClient } from '../vmrest/client.js';

export type TemplateVmrest = Pick<VmrestClient, 'findVm' | 'registerVm' | 'getPowerState' | 'setPowerState'>;
