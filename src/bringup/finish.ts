/**
 * Finish: what the user gets once the cluster is Ready — the admin
 * kubeconfig, optionally merged into ~/.kube/config, an SSH config for the
 * nodes — and removal of the seed ISOs, which hold the cluster's secrets.
 *
 * Seed removal, and what is known about it:
 * - The ISO file is deleted from the state folder as soon as the cluster is
 *   Ready: cloud-init read it during the first boot and keeps its own copy.
 *   On Windows, Workstation may hold a connected ISO open, so the delete can
 *   fail (EBUSY/EPERM); then it is recorded as pending and retried on the
 *   next run.
 * - The CD-ROM is detached by editing the .vmx (startConnected FALSE, no
 *   file name) only while the VM is powered off — Workstation rewrites a
 *   running VM's .vmx from memory. While it runs, vmrest is asked to set
 *   startConnected through PUT /vms/{id}/params; whether Workstation applies
 *   that to a running VM is unverified, so it counts only as a request and
 *   the .vmx edit is still done the next time the VM is found powered off
 *   (any later build-vms run, or detachSeedIso from another command).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { clusterSecretPaths, writeSecretFileAtomic, ensureSecretDir } from '../pki/index.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import { SEED_CDROM } from '../template/vmx.js';
import { editOwnedVmx, type AppliedVm } from './apply.js';
import type { BuildEventSink, BuildVmrest } from './ports.js';
import type { BuildStateStore } from './state.js';
import { writeJsonAtomic } from './state.js';

type KubeconfigDoc = {
  apiVersion?: string;
  kind?: string;
  clusters?: Array<{ name: string; [k: string]: unknown }>;
  users?: Array<{ name: string; [k: string]: unknown }>;
  contexts?: Array<{ name: string; [k: string]: unknown }>;
  'current-context'?: string;
  [k: string]: unknown;
};

/**
 * `existing` with the cluster, user and context of `added` put in (same
 * names replaced, everything else kept) and its context made current.
 */
export function mergeKubeconfig(existing: string | undefined, added: string): string {
  const base = ((existing && yaml.load(existing)) || {}) as KubeconfigDoc;
  const add = yaml.load(added) as KubeconfigDoc;
  const mergeList = (key: 'clusters' | 'users' | 'contexts'): void => {
    const list = [...(base[key] ?? [])];
    for (const entry of add[key] ?? []) {
      const at = list.findIndex((e) => e.name === entry.name);
      if (at >= 0) list[at] = entry;
      else list.push(entry);
    }
    base[key] = list;
  };
  base.apiVersion ??= 'v1';
  base.kind ??= 'Config';
  mergeList('clusters');
  mergeList('users');
  mergeList('contexts');
  if (add['current-context']) base['current-context'] = add['current-context'];
  return yaml.dump(base, { lineWidth: -1, noRefs: true });
}

/** Quoted for OpenSSH's config parser (Windows paths have spaces and backslashes). */
function sshQuote(value: string): string {
  return /[\s"]/.test(value) ? `"${value.replace(/"/g, '')}"` : value;
}

export function renderSshConfig(spec: ClusterSpec, identityFile: string | undefined, knownHostsFile: string): string {
  const blocks = spec.nodes.map((node) =>
    [
      `Host ${node.name}`,
      `  HostName ${node.nics.hostOnly.address}`,
      `  User ${spec.os.user.name}`,
      ...(identityFile ? [`  IdentityFile ${sshQuote(identityFile)}`, '  IdentitiesOnly yes'] : []),
      `  UserKnownHostsFile ${sshQuote(knownHostsFile)}`,
      // Rebuilt nodes get new host keys; the known_hosts file is this cluster's own.
      '  StrictHostKeyChecking accept-new',
    ].join('\n'),
  );
  return `# kubestation: SSH to the nodes of cluster ${spec.name}\n# use: ssh -F ${sshQuote(path.join(spec.stateDir, 'ssh_config'))} ${spec.nodes[0]?.name ?? '<node>'}\n\n${blocks.join('\n\n')}\n`;
}

/**
 * Writes `<stateDir>/ssh_config` and returns its path. The nodes' addresses
 * and user are fixed by cluster.yaml, so it is valid from their first boot:
 * build-vms writes it before following, for a look inside a failing node.
 */
export async function writeSshConfig(spec: ClusterSpec, identityFile: string | undefined): Promise<string> {
  const sshConfig = path.join(spec.stateDir, 'ssh_config');
  await ensureSecretDir(spec.stateDir);
  await writeFile(sshConfig, renderSshConfig(spec, identityFile, path.join(spec.stateDir, 'known_hosts')));
  return sshConfig;
}

export interface FinishContext {
  spec: ClusterSpec;
  vmrest: BuildVmrest;
  store: BuildStateStore;
  emit: BuildEventSink;
  /** Private key the nodes accept (generated when cluster.yaml lists no keys); undefined = the user's own keys. */
  sshIdentityFile: string | undefined;
  /** Merge the admin kubeconfig into this file (~/.kube/config) when set. */
  mergeKubeconfigInto?: string | undefined;
  /** Record the cluster as ready (readyAt); false when verify failed. Default true. */
  markReady?: boolean;
}

export interface FinishResult {
  files: string[];
  notes: string[];
}

/** Detaches the seed CD-ROM when the VM is powered off (else asks vmrest and leaves it pending); removes the ISO file. */
export async function detachSeedIso(ctx: Pick<FinishContext, 'spec' | 'vmrest' | 'store' | 'emit'>, node: NodeSpec, vm: AppliedVm): Promise<{ fileRemoved: boolean; detached: boolean }> {
  const recorded = ctx.store.node(node.name)?.seed;
  if (!recorded) return { fileRemoved: true, detached: true };
  let { fileRemoved, detached } = recorded;
  if (!fileRemoved) {
    try {
      await rm(recorded.isoPath, { force: true });
      fileRemoved = true;
    } catch (error) {
      ctx.emit({ type: 'warning', node: node.name, message: `could not delete the seed ISO ${recorded.isoPath} yet (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); it is retried on the next run` });
    }
  }
  if (!detached) {
    const power = await ctx.vmrest.getPowerState(vm.id);
    if (power === 'poweredOff') {
      await editOwnedVmx(ctx, node, vm, (vmx) => {
        vmx.set(`${SEED_CDROM}.startConnected`, 'FALSE');
        vmx.set(`${SEED_CDROM}.fileName`, '');
      });
      detached = true;
    } else {
      // Unverified whether a running VM takes this; the .vmx edit above happens once it is off.
      await ctx.vmrest.setParam(vm.id, `${SEED_CDROM}.startConnected`, 'FALSE').catch(() => undefined);
    }
  }
  await ctx.store.updateNode(node.name, (n) => {
    if (n.seed) Object.assign(n.seed, { fileRemoved, detached });
  });
  return { fileRemoved, detached };
}

export async function finishBuild(ctx: FinishContext, vms: Map<string, AppliedVm>): Promise<FinishResult> {
  const { spec } = ctx;
  const files: string[] = [];
  const notes: string[] = [];

  const secrets = clusterSecretPaths(spec.stateDir);
  const kubeconfig = await readFile(secrets.adminKubeconfig, 'utf8');
  const adminKubeconfig = path.join(spec.stateDir, 'admin.kubeconfig');
  await writeSecretFileAtomic(adminKubeconfig, kubeconfig);
  files.push(adminKubeconfig);

  if (ctx.mergeKubeconfigInto) {
    const target = ctx.mergeKubeconfigInto;
    const existing = await readFile(target, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    await ensureSecretDir(path.dirname(target));
    await writeSecretFileAtomic(target, mergeKubeconfig(existing, kubeconfig));
    files.push(target);
    notes.push(`merged context of cluster ${spec.name} into ${target} and made it current`);
  }

  const sshConfig = await writeSshConfig(spec, ctx.sshIdentityFile);
  files.push(sshConfig);

  for (const node of spec.nodes) {
    const vm = vms.get(node.name);
    if (!vm) continue;
    const result = await detachSeedIso(ctx, node, vm);
    if (!result.detached) notes.push(`${node.name}: seed CD-ROM is detached in its .vmx the next time kubestation finds the VM powered off`);
  }

  if (ctx.markReady ?? true) {
    const readyAt = new Date().toISOString();
    await ctx.store.update((s) => {
      s.readyAt = readyAt;
      // The control plane's final line means every node is Ready. build-vms stops following
      // there, so a worker's own final line may never have been read: record it for all.
      for (const node of spec.nodes) {
        const record = s.nodes[node.name];
        if (record) record.completedAt ??= readyAt;
      }
    });
  }
  await writeJsonAtomic(path.join(spec.stateDir, 'summary.json'), {
    cluster: spec.name,
    apiServer: `https://${spec.kubernetes.apiEndpoint}`,
    kubeconfig: adminKubeconfig,
    sshConfig,
    nodes: spec.nodes.map((n) => ({ name: n.name, role: n.role, hostOnly: n.nics.hostOnly.address, nat: n.nics.nat.address, vmx: vms.get(n.name)?.vmxPath })),
  });
  return { files, notes };
}

/** ~/.kube/config of the user running kubestation (KUBECONFIG's first entry when set). */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv): string {
  const fromEnv = env.KUBECONFIG?.split(path.delimiter).find((p) => p.trim() !== '');
  return fromEnv ?? path.join(env.USERPROFILE || env.HOME || os.homedir(), '.kube', 'config');
}
