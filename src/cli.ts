/**
 * kubestation's command line. Each command lives in src/commands/<name>.ts
 * and is imported only when it runs, so `validate` or `seed-isos` never pay
 * for loading the vmrest client or the Kubernetes client.
 */
import { describeError } from './errors.js';
import type { CommandContext, CommandRunner } from './commands/context.js';
import { didYouMean } from './commands/suggest.js';
import { RunRecorder, runLogStateDir, writeRunLog } from './run-log.js';
import { COMMAND_PREFIX } from './command-hint.js';

const commands: Record<string, { summary: string; load: () => Promise<{ run: CommandRunner }> }> = {
  up: {
    summary:
      'build-template (skipping finished steps), then build-vms, in one run: vmrest credentials asked once',
    load: () => import('./commands/up.js'),
  },
  validate: {
    summary: 'check cluster.yaml and print a summary of the lab',
    load: () => import('./commands/validate.js'),
  },
  'build-template': {
    summary: 'make and bake the template VM from the Ubuntu 24.04 cloud image (--no-golden: no bake)',
    load: () => import('./commands/build-template.js'),
  },
  'build-vms': {
    summary: 'build the cluster: clone, configure and boot the VMs, follow them until Ready',
    load: () => import('./commands/build-vms.js'),
  },
  verify: {
    summary:
      'prove the cluster works through the Kubernetes API: nodes, system pods, DNS, pod/Service/NodePort traffic, clocks',
    load: () => import('./commands/verify.js'),
  },
  status: {
    summary: 'per node: VM, power, addresses, Kubernetes node state, last progress line',
    load: () => import('./commands/status.js'),
  },
  doctor: {
    summary: 'diagnose the known causes of a broken lab and print the fix for each',
    load: () => import('./commands/doctor.js'),
  },
  stop: {
    summary: 'shut the lab down cleanly (workers first, control plane last; --node NAME for one node)',
    load: () => import('./commands/stop.js'),
  },
  start: {
    summary: 'start a stopped lab: control plane, API server, workers, every node Ready, then verify',
    load: () => import('./commands/start.js'),
  },
  snapshot: {
    summary: 'whole-lab snapshots through vmrun: snapshot save|restore|list|delete NAME',
    load: () => import('./commands/snapshot.js'),
  },
  'rebuild-node': {
    summary:
      "replace one node's VM with a fresh one (worker: drain, new join token, rejoin; control plane: --force)",
    load: () => import('./commands/rebuild-node.js'),
  },
  destroy: {
    summary: "delete the lab's VMs (only ones with this cluster's marker), DHCP reservations and seed ISOs",
    load: () => import('./commands/destroy.js'),
  },
  'seed-isos': {
    summary: "write each node's cloud-init seed (user-data, meta-data, network-config, seed.iso)",
    load: () => import('./commands/seed-isos.js'),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(15)} ${c.summary}`);
  return `usage: ${COMMAND_PREFIX} <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nTry it without VMware first: ${COMMAND_PREFIX} up --simulate (simulated VMs on this PC; nothing is built).\nRun '${COMMAND_PREFIX} <command> --help' for a command's options, '${COMMAND_PREFIX} --version' for the version.\nIn PowerShell or cmd, inside the kubestation folder (in bash: ./kubestation).\n`;
}

export async function main(argv: string[], ctx: Omit<CommandContext, 'argv'>): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    ctx.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    const { kubestationVersion } = await import('./commands/version.js');
    ctx.stdout.write(`kubestation ${kubestationVersion()}\n`);
    return 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    ctx.stderr.write(
      `kubestation: unknown command '${name}'${didYouMean(name, Object.keys(commands))}\n\n${usage()}`,
    );
    return 2;
  }
  const recorder = new RunRecorder();
  const startedAt = new Date();
  const out = { stdout: recorder.tee(ctx.stdout), stderr: recorder.tee(ctx.stderr) };
  let exitCode: number;
  try {
    const { run } = await command.load();
    exitCode = await run({ ...ctx, ...out, argv: rest });
  } catch (error) {
    out.stderr.write(`kubestation ${name}: ${describeError(error)}\n`);
    exitCode = 1;
  }
  // A --simulate run works in a temporary folder and must not replace the real lab's log.
  if (!rest.includes('--simulate')) {
    try {
      const stateDir = await runLogStateDir(rest, ctx.cwd, ctx.env);
      const entry = {
        command: name,
        argv: rest,
        startedAt,
        finishedAt: new Date(),
        exitCode,
        output: recorder.text(),
      };
      if (stateDir) {
        const { kubestationVersion } = await import('./commands/version.js');
        await writeRunLog(stateDir, entry, ctx.env, kubestationVersion());
      }
    } catch {
      // Losing the log is harmless: it only feeds a later support bundle, and a command
      // that did its work must not fail (or print into its --json output) over it.
    }
  }
  return exitCode;
}
