/**
 * `kubestation doctor [--json] [--cluster file]`: checks the known causes of
 * a broken lab and prints the fix for each (src/day2/doctor.ts). Exit code 1
 * when a check fails, 0 otherwise (warnings included).
 *
 * `doctor --bundle [FILE]` also writes the support bundle (src/support/).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { loadDay2Spec, openVmrest } from './support.js';
import { kubestationVersion } from './version.js';
import { clusterFilePath } from '../config/load.js';
import type { ClusterSpec } from '../config/model.js';
import { workstationDefaultVmFolder } from '../bringup/host-folders.js';
import { formatDoctorReport, runDoctor, type DoctorReport } from '../day2/doctor.js';
import type { KubeAccess } from '../bringup/observe.js';
import { collectStatus } from '../day2/status.js';
import { KubestationError } from '../errors.js';
import { bundleReadme, collectBundle, zipBundle } from '../support/bundle.js';
import { supportBundleParts } from '../support/bundle-sources.js';
import { stateDirSecrets } from '../support/known-secrets.js';
import { sshNodeShell } from '../support/ssh-shell.js';
import type { VmrestClient } from '../vmrest/client.js';
import { detectWorkstationIdentity, type WorkstationIdentity } from '../workstation/identity.js';
import { hostWorkstationProbe } from '../workstation/host-probe.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const help = `usage: ${COMMAND_PREFIX} doctor [--json] [--cluster file]
       ${COMMAND_PREFIX} doctor --bundle [FILE] [--cluster file]

Diagnoses the known failure causes: vmrest not running or wrong credentials,
host networks differing from cluster.yaml, static addresses inside a DHCP pool,
template missing or powered on, seed ISOs left after bootstrap, an expired join
token, node InternalIP not on the host-only network, CNI pods not running and
node clocks out of sync. Prints ok / WARN / FAIL and the fix for each.
Exit code 1 when a check fails.

  --json          print the report as JSON
  --bundle [FILE] also write a support bundle: one .zip with cluster.yaml, the
                  state files, the .vmx files, the serial consoles, vmrest's
                  answers, host facts, the doctor and status reports and the
                  cluster's nodes, pods and events, with every secret left out
                  or redacted (README.txt inside lists what could not be
                  collected). Default FILE: <state folder>\\support\\kubestation-support-<time>.zip
  --cluster file  default: $KUBESTATION_CLUSTER or ./cluster.yaml
`;

export async function run(ctx: CommandContext): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'doctor',
    help,
    options: {
      json: { type: 'boolean', default: false },
      cluster: { type: 'string' },
      bundle: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  if (!args) return 0;
  const { values, positionals } = args;
  if (positionals.length > (values.bundle ? 1 : 0)) {
    throw new KubestationError('USAGE', `doctor takes no argument "${positionals.join(' ')}"`, {
      fix: 'a file name goes after --bundle (doctor --bundle FILE); see doctor --help',
    });
  }
  const { spec, kube } = await loadDay2Spec(ctx, values.cluster);
  let vmrest: VmrestClient | undefined;
  let vmrestUnavailable: KubestationError | undefined;
  try {
    vmrest = await openVmrest(ctx, spec);
  } catch (error) {
    if (!(error instanceof KubestationError)) throw error;
    vmrestUnavailable = error;
  }
  try {
    let identity: Promise<WorkstationIdentity> | undefined;
    const workstationIdentity = () =>
      (identity ??= detectWorkstationIdentity(hostWorkstationProbe(spec, ctx.env)));
    const report = await runDoctor(spec, {
      vmrest,
      vmrestUnavailable,
      kube,
      installFolder: spec.vmware.installFolder,
      workstation: workstationIdentity,
    });
    ctx.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report));
    if (values.bundle) {
      const file = await writeSupportBundle(ctx, spec, {
        file: positionals[0],
        clusterFile: clusterFilePath(ctx.cwd, values.cluster, ctx.env),
        vmrest,
        vmrestUnavailable,
        kube,
        report,
        workstationIdentity,
      });
      // With --json stdout holds the report alone; the bundle's lines go to stderr.
      (values.json ? ctx.stderr : ctx.stdout).write(
        `support bundle: ${file.path} (${formatBytes(file.bytes)})\n`,
      );
    }
    return report.ok ? 0 : 1;
  } finally {
    await vmrest?.close();
  }
}

function formatBytes(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(0)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function timestamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[-:]/g, '')
    .replace('T', '-');
}

async function writeSupportBundle(
  ctx: CommandContext,
  spec: ClusterSpec,
  input: {
    file: string | undefined;
    clusterFile: string;
    vmrest: VmrestClient | undefined;
    vmrestUnavailable: KubestationError | undefined;
    kube: KubeAccess;
    report: DoctorReport;
    workstationIdentity: () => Promise<WorkstationIdentity>;
  },
): Promise<{ path: string; bytes: number }> {
  const now = new Date();
  const target = path.resolve(
    ctx.cwd,
    input.file ?? path.join(spec.stateDir, 'support', `kubestation-support-${timestamp(now)}.zip`),
  );
  const version = kubestationVersion();
  const sshConfig = path.join(spec.stateDir, 'ssh_config');
  const vmrest = input.vmrest;
  const parts = supportBundleParts({
    spec,
    clusterFile: input.clusterFile,
    env: ctx.env,
    kubestationVersion: version,
    vmrest,
    vmrestUnavailable: input.vmrestUnavailable?.message,
    kube: input.kube,
    clonesFolder: await workstationDefaultVmFolder(ctx.env),
    nodeShell: existsSync(sshConfig)
      ? sshNodeShell(sshConfig, ctx.env)
      : `no ssh_config in the state folder (${sshConfig}): the lab has not finished a build yet`,
    reports: [
      { name: 'doctor', make: async () => input.report },
      { name: 'workstation', make: input.workstationIdentity },
      {
        name: 'status',
        make: () => {
          if (!vmrest) throw new Error(input.vmrestUnavailable?.message ?? 'vmrest could not be opened');
          return collectStatus(spec, { vmrest, kube: input.kube });
        },
      },
    ],
  });
  const secrets = await stateDirSecrets(spec.stateDir, ctx.env);
  const progress = ctx.stderr;
  const contents = await collectBundle(parts, secrets, (line) => progress.write(`bundle: ${line}\n`));
  const readme = bundleReadme(contents, {
    createdAt: now.toISOString(),
    cluster: spec.name,
    kubestation: version,
  });
  const zip = zipBundle(contents, readme);
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, zip);
  return { path: target, bytes: zip.byteLength };
}
