/**
 * Finish: what the user gets once the cluster is Ready — the admin
 * kubeconfig, optionally merged into ~/.kube/config, an SSH config for the
 * nodes — and removal of the seed ISOs, which hold the cluster's secrets.
 *
 * Seed removal: see seed-retirement.ts (detachSeedIso).
 */
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { clusterSecretPaths, writeSecretFileAtomic, ensureSecretDir } from '../pki/index.js';
import type { ClusterSpec } from '../config/model.js';
import type { AppliedVm } from './apply.js';
import { detachSeedIso } from './seed-retirement.js';
import { knownHostsPath } from './known-hosts.js';
import type { BuildEventSink, BuildVmrest } from './ports.js';
import type { BuildStateStore } from './state.js';
import { writeJsonAtomic } from './state.js';

/** The one seed-retirement function, also importable from here (the stop/start commands do). */
export { detachSeedIso } from './seed-retirement.js';

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

export function renderSshConfig(
  spec: ClusterSpec,
  identityFile: string | undefined,
  knownHostsFile: string,
): string {
  const blocks = spec.nodes.map((node) =>
    [
      `Host ${node.name}`,
      `  HostName ${node.nics.hostOnly.address}`,
      `  User ${spec.os.user.name}`,
      ...(identityFile ? [`  IdentityFile ${sshQuote(identityFile)}`, '  IdentitiesOnly yes'] : []),
      `  UserKnownHostsFile ${sshQuote(knownHostsFile)}`,
      // The key is filed under the node's name, unhashed, so a clone's new key replaces it (known-hosts.ts).
      `  HostKeyAlias ${node.name}`,
      '  HashKnownHosts no',
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
  await writeFile(sshConfig, renderSshConfig(spec, identityFile, knownHostsPath(spec.stateDir)));
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
    if (!result.detached) {
      notes.push(
        `${node.name}: seed ISO and user-data deleted on this PC; its .vmx still names the ISO until the VM is next off (kubestation detaches it then: stop, start, rebuild-node, build-vms)`,
      );
    }
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
    nodes: spec.nodes.map((n) => ({
      name: n.name,
      role: n.role,
      hostOnly: n.nics.hostOnly.address,
      nat: n.nics.nat.address,
      vmx: vms.get(n.name)?.vmxPath,
    })),
  });
  return { files, notes };
}

/** ~/.kube/config of the user running kubestation (KUBECONFIG's first entry when set). */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv): string {
  const fromEnv = env.KUBECONFIG?.split(path.delimiter).find((p) => p.trim() !== '');
  return fromEnv ?? path.join(env.USERPROFILE || env.HOME || os.homedir(), '.kube', 'config');
}
