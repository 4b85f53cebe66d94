/**
 * What build-vms asks before cloning: is there a template, is vmrest
 * showing it, is it powered off, and does its golden bake match the spec?
 */
import { existsSync } from 'node:fs';
import { KubestationError } from '../errors.js';
import type { ClusterSpec } from '../config/model.js';
import { bakeIsoAttached, goldenMatchesSpec } from './golden.js';
import { readTemplateState, templateVmxPath, type GoldenMarker, type TemplateState } from './state.js';
import type { TemplateVmrest } from './vmrest-port.js';
import { COMMAND_PREFIX } from '../command-hint.js';

export interface ReadyTemplate {
  /** vmrest id to clone from (POST /vms {name, parentId}). */
  id: string;
  vmxPath: string;
  state: TemplateState;
  /** The bake's versions when they match the spec (nodes may skip installs and pulls), else undefined. */
  golden: GoldenMarker | undefined;
}

const rebuild = `Run \`${COMMAND_PREFIX} build-template\` (it skips the steps already done).`;

export async function requireReadyTemplate(
  spec: ClusterSpec,
  vmrest: Pick<TemplateVmrest, 'findVm' | 'getPowerState'>,
): Promise<ReadyTemplate> {
  const state = await readTemplateState(spec);
  const vmxPath = state.vm?.vmxPath ?? templateVmxPath(spec);
  const name = spec.vmware.template.name;
  if (!state.builtAt || !existsSync(vmxPath)) {
    throw new KubestationError(
      'TEMPLATE_NOT_BUILT',
      `The template VM ${name} has not been built (no ${vmxPath}).`,
      { fix: rebuild },
    );
  }
  if (await bakeIsoAttached(vmxPath)) {
    throw new KubestationError(
      'TEMPLATE_BAKE_INTERRUPTED',
      `The template VM ${name} still has the golden bake seed attached: a bake was interrupted.`,
      {
        fix: `Run \`${COMMAND_PREFIX} build-template\` to finish the bake (clones would otherwise run it again).`,
      },
    );
  }
  const vm = await vmrest.findVm({ vmxPath });
  if (!vm)
    throw new KubestationError(
      'TEMPLATE_NOT_REGISTERED',
      `The template VM ${vmxPath} is not in Workstation's library.`,
      { fix: rebuild },
    );
  const power = await vmrest.getPowerState(vm.id);
  if (power !== 'poweredOff') {
    throw new KubestationError(
      'TEMPLATE_NOT_POWERED_OFF',
      `The template VM ${name} is ${power}; Workstation clones only powered-off VMs.`,
      {
        fix: `Shut down ${name} in Workstation, then run the command again.`,
      },
    );
  }
  return { id: vm.id, vmxPath, state, golden: goldenMatchesSpec(state, spec) ? state.golden : undefined };
}
