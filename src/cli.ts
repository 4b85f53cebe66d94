/**
 * kubestation's command line. Each command lives in src/commands/<name>.ts
 * and is imported only when it runs, so `validate` or `seed-isos` never pay
 * for loading the vmrest client or the Kubernetes client.
 */
import { describeError } from './errors.js';
import type { CommandContext, CommandRunner } from './commands/context.js';
import { didYouMean } from './commands/suggest.js';

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
  return `usage: kubestation <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'kubestation <command> --help' for a command's options, 'kubestation --version' for the version.\n`;
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
  try {
    const { run } = await command.load();
    return await run({ ...ctx, argv: rest });
  } catch (error) {
    ctx.stderr.write(`kubestation ${name}: ${describeError(error)}\n`);
    return 1;
  }
}
