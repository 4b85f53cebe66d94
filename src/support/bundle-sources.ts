/**
 * What a support bundle collects on this PC, as BundleParts (bundle.ts).
 * Each part reads one source and fails alone, with a reason, when its source
 * is not there: no lab built yet, vmrest down, an API server that does not
 * answer. Nothing here writes anything.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ClusterSpec } from '../config/model.js';
import { nodePaths } from '../bringup/paths.js';
import { buildStatePath, readBuildState, type BuildState } from '../bringup/state.js';
import { recordsNoClone } from '../bringup/lab-state.js';
import { workstationPreferencesFile } from '../bringup/host-folders.js';
import type { KubeAccess } from '../bringup/observe.js';
import { KubeClient } from '../kube/index.js';
import { clusterSecretPaths } from '../pki/index.js';
import { templateStatePath, templateVmxPath } from '../template/state.js';
import type { VmrestClient } from '../vmrest/client.js';
import type { BundleEntry, BundlePart } from './bundle.js';
import { readTextIfPresent } from '../missing-file.js';
import { commandHint } from '../command-hint.js';
import { nodeLogParts, type NodeShell } from './node-logs.js';

export interface BundleSources {
  spec: ClusterSpec;
  clusterFile: string;
  env: NodeJS.ProcessEnv;
  kubestationVersion: string;
  /** Undefined when vmrest could not be opened: `vmrestUnavailable` says why. */
  vmrest: VmrestClient | undefined;
  vmrestUnavailable?: string | undefined;
  kube: KubeAccess;
  /** Workstation's default VM folder (where the clones are), when known. */
  clonesFolder?: string | undefined;
  /** How to run a script on a node, or why nodes cannot be asked (e.g. no ssh_config yet). */
  nodeShell: NodeShell | string;
  /** The --json reports of doctor and status, made by the caller (they need the command's own set-up). */
  reports: { name: string; make: () => Promise<unknown> }[];
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** Relative name inside the zip for a file of the state folder. */
function stateEntry(spec: ClusterSpec, file: string): string {
  return `state/${path.relative(spec.stateDir, file).split(path.sep).join('/')}`;
}

async function filesPart(name: string, files: [entry: string, file: string][]): Promise<BundleEntry[]> {
  const entries: BundleEntry[] = [];
  const absent: string[] = [];
  for (const [entry, file] of files) {
    const text = await readTextIfPresent(file);
    if (text === undefined) absent.push(file);
    else entries.push({ name: entry, text });
  }
  if (entries.length === 0) throw new Error(`none of its files exist (${absent.join(', ')})`);
  return entries;
}

async function buildStateOrUndefined(spec: ClusterSpec): Promise<BuildState | undefined> {
  if (!existsSync(buildStatePath(spec.stateDir))) return undefined;
  return readBuildState(spec.stateDir, spec.name);
}

function notCollected(name: string, why: string): BundlePart {
  return { name, collect: () => Promise.reject(new Error(why)) };
}

export function supportBundleParts(sources: BundleSources): BundlePart[] {
  const { spec } = sources;
  // build-template may write state.json (an observation) before any node exists.
  const noLab = 'no lab built yet: state.json is missing or records no node';
  const parts: BundlePart[] = [
    {
      name: 'cluster.yaml',
      collect: async () => [{ name: 'cluster.yaml', text: await readFile(sources.clusterFile, 'utf8') }],
    },
    {
      name: 'state folder',
      collect: () => {
        const files = [
          buildStatePath(spec.stateDir),
          templateStatePath(spec),
          path.join(spec.stateDir, 'summary.json'),
          path.join(spec.stateDir, 'ssh_config'),
          path.join(spec.stateDir, 'known_hosts'),
          clusterSecretPaths(spec.stateDir).bootstrapTokenIssued,
          // meta-data and network-config hold no secret (user-data does, and is never read).
          ...spec.nodes.flatMap((n) =>
            ['meta-data', 'network-config'].map((f) => path.join(spec.stateDir, n.name, f)),
          ),
        ];
        return filesPart(
          'state folder',
          files.map((f) => [stateEntry(spec, f), f]),
        );
      },
    },
    {
      name: 'serial consoles',
      collect: () =>
        filesPart(
          'serial consoles',
          spec.nodes.flatMap((n) => {
            const p = nodePaths(spec, n);
            return [
              [`consoles/${n.name}.serial.log`, p.serialLog],
              [`consoles/${n.name}.serial.previous.log`, p.previousSerialLog],
            ] as [string, string][];
          }),
        ),
    },
    {
      name: 'VM files (.vmx, .vmsd)',
      collect: async () => {
        const state = await buildStateOrUndefined(spec);
        const vmxFiles: [string, string][] = [['template', templateVmxPath(spec)]];
        for (const n of spec.nodes) {
          const vmx = state?.nodes[n.name]?.vmxPath;
          if (vmx) vmxFiles.push([n.name, vmx]);
        }
        return filesPart(
          'VM files',
          vmxFiles.flatMap(([who, vmx]) => [
            [`vms/${who}.vmx`, vmx],
            [`vms/${who}.vmsd`, vmx.replace(/\.vmx$/i, '.vmsd')],
          ]),
        );
      },
    },
    {
      name: 'vmrest answers',
      collect: async () => {
        const vmrest = sources.vmrest;
        if (!vmrest) throw new Error(sources.vmrestUnavailable ?? 'vmrest could not be opened');
        const vms = await vmrest.listVms();
        const vmnets = await vmrest.listVmnets();
        const perVm = [];
        for (const vm of vms) {
          const power = await vmrest.getPowerState(vm.id).catch((e: unknown) => `error: ${String(e)}`);
          const nicIps = await vmrest
            .getNicIps(vm.id, { timeoutMs: 1_000, intervalMs: 250 })
            .catch((e: unknown) => `not available: ${e instanceof Error ? e.message : String(e)}`);
          perVm.push({ ...vm, power, nicIps });
        }
        return [
          { name: 'vmrest/vms.json', text: json(perVm) },
          { name: 'vmrest/vmnets.json', text: json(vmnets) },
        ];
      },
    },
    {
      name: 'Workstation',
      collect: async () => {
        const prefs = workstationPreferencesFile(sources.env, process.platform);
        const entries: BundleEntry[] = [
          {
            name: 'workstation/folders.json',
            text: json({
              installFolder: spec.vmware.installFolder ?? null,
              preferencesFile: prefs ?? null,
              clonesFolder: sources.clonesFolder ?? null,
            }),
          },
        ];
        const text = prefs && (await readTextIfPresent(prefs));
        if (text !== undefined && text !== '') entries.push({ name: 'workstation/preferences', text });
        return entries;
      },
    },
    {
      name: 'host facts',
      collect: async () => {
        const free = async (folder: string | undefined) => {
          if (!folder) return null;
          try {
            const s = await statfs(existsSync(folder) ? folder : path.parse(path.resolve(folder)).root);
            return { folder, freeBytes: s.bavail * s.bsize };
          } catch (error) {
            return { folder, error: error instanceof Error ? error.message : String(error) };
          }
        };
        return [
          {
            name: 'host.json',
            text: json({
              platform: process.platform,
              arch: process.arch,
              os: { type: os.type(), release: os.release(), version: os.version() },
              memoryBytes: os.totalmem(),
              cpus: os.cpus().length,
              node: process.version,
              kubestation: sources.kubestationVersion,
              freeSpace: {
                stateFolder: await free(spec.stateDir),
                clonesFolder: await free(sources.clonesFolder),
              },
            }),
          },
        ];
      },
    },
    ...sources.reports.map((report): BundlePart => ({
      name: `${report.name} --json`,
      collect: async () => [{ name: `reports/${report.name}.json`, text: json(await report.make()) }],
    })),
    ...(['nodes', 'pods', 'events'] as const).map((kind): BundlePart => ({
      name: `cluster ${kind}`,
      collect: async () => {
        const state = await buildStateOrUndefined(spec);
        if (!state || recordsNoClone(state)) throw new Error(noLab);
        if (!existsSync(sources.kube.kubeconfig))
          throw new Error(`no admin kubeconfig at ${sources.kube.kubeconfig}`);
        const client = await KubeClient.fromKubeconfig(sources.kube.kubeconfig, {
          ...(sources.kube.server ? { server: sources.kube.server } : {}),
          requestTimeoutMs: 5_000,
        });
        try {
          // Cluster-wide lists: every namespace's pods and events.
          const list = await client.request('GET', `/api/v1/${kind}`);
          return [{ name: `cluster/${kind}.json`, text: json(list) }];
        } finally {
          await client.close();
        }
      },
    })),
    // Said in README.txt rather than left out silently: what a full report would hold, and how to add it by hand.
    ...nodeLogParts(
      spec.nodes.map((n) => n.name),
      sources.nodeShell,
    ),
    notCollected(
      'verify --json',
      `the bundle does not run verify (it creates and deletes test pods in the cluster): run \`${commandHint('verify --json')} > verify.json\` and attach it`,
    ),
    {
      name: 'command run logs',
      collect: async () => {
        const dir = path.join(spec.stateDir, 'logs');
        const names = existsSync(dir) ? (await readdir(dir)).filter((n) => n.endsWith('.log')).sort() : [];
        if (names.length === 0) throw new Error(`no command has logged a run in ${dir} yet`);
        return filesPart(
          'command run logs',
          names.map((n) => [`logs/${n}`, path.join(dir, n)]),
        );
      },
    },
  ];
  return parts;
}
