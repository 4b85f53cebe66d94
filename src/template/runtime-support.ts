/**
 * Which containerd the Kubernetes of a spec needs, against what a golden template
 * holds (the guest side is cloud-init/lib/containerd-package.sh). Light imports only:
 * validate loads this on its fast path.
 */
import { FIRST_MINOR_NEEDING_CONTAINERD2 } from '../config/defaults.js';
import type { ClusterSpec } from '../config/model.js';
import type { TemplateState } from './state.js';
import { COMMAND_PREFIX } from '../command-hint.js';

/** Whether Kubernetes `minor` ("1.37") is FIRST_MINOR_NEEDING_CONTAINERD2 or newer. */
export function kubernetesNeedsContainerd2(minor: string): boolean {
  const [major = 0, min = 0] = minor.split('.').map(Number);
  const [firstMajor = 0, firstMinor = 0] = FIRST_MINOR_NEEDING_CONTAINERD2.split('.').map(Number);
  return major > firstMajor || (major === firstMajor && min >= firstMinor);
}

/**
 * A warning when the golden template's containerd cannot run the Kubernetes the spec
 * asks for (a template baked before Kubernetes 1.36 was chosen): every node's packages
 * stage then replaces containerd at first boot, which needs the containerd 2 source.
 */
export function goldenRuntimeWarning(
  state: TemplateState,
  spec: Pick<ClusterSpec, 'kubernetes' | 'vmware'>,
): string | undefined {
  const containerd = state.golden?.containerd;
  if (!containerd || !kubernetesNeedsContainerd2(spec.kubernetes.minor)) return undefined;
  const major = Number(/^(?:\d+:)?v?(\d+)\./.exec(containerd.version)?.[1]);
  if (!(major < 2)) return undefined;
  const k8s = spec.kubernetes.patch ?? spec.kubernetes.minor;
  return (
    `the golden template ${spec.vmware.template.name} holds ${containerd.package} ${containerd.version}, which Kubernetes ${k8s} does not support (it needs containerd 2.0 or newer): ` +
    `each node's first boot replaces it from kubernetes.containerRuntime.packageRepository (slower, needs the Internet). ` +
    `Bake 2.x into the template with \`${COMMAND_PREFIX} build-template\`, or set kubernetes.version to 1.35 or older`
  );
}
