/**
 * PowerShell drops the `--` of `npm run build-vms -- --dry-run`, so npm keeps
 * `--dry-run` for itself and the CLI would build for real. These tests run
 * the real npm on this machine to capture exactly the environment and the
 * arguments a script gets for each option typed that way, then hand both to
 * kubestation's CLI: it must refuse before any vmrest request or file change.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { lostNpmOptions } from '../../src/commands/npm-guard.js';
import { captureOutput } from '../template/fixtures.js';
import { seedLabText } from '../config/bad-spec-cases.js';

interface ScriptRun {
  /** The arguments npm passed on to the script. */
  argv: string[];
  /** The npm_* variables (and NODE_OPTIONS) npm gave the script. */
  env: Record<string, string>;
}

let probeDir: string;

/** `npm run probe <typed...>`, as PowerShell hands it to npm (no `--` left). */
async function npmRun(typed: string[]): Promise<ScriptRun> {
  const out = path.join(probeDir, `out-${Math.random().toString(36).slice(2)}.json`);
  // The test itself may run under `npm test`: none of that npm's variables may leak into the probe.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE_OPTIONS'),
  );
  await execa('npm', ['run', 'probe', ...typed], {
    cwd: probeDir,
    env: { ...env, PROBE_OUT: out, NPM_CONFIG_UPDATE_NOTIFIER: 'false', NPM_CONFIG_OFFLINE: 'true' },
    extendEnv: false,
  });
  return JSON.parse(await readFile(out, 'utf8')) as ScriptRun;
}

/** A loopback HTTP server standing in for vmrest that only counts requests. */
async function requestCounter(): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server = http.createServer((_req, res) => {
    count++;
    res.writeHead(500).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api`,
    count: () => count,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

beforeAll(async () => {
  probeDir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-npm-probe-'));
  await writeFile(
    path.join(probeDir, 'package.json'),
    JSON.stringify({
      name: 'npm-env-probe',
      version: '1.0.0',
      private: true,
      scripts: { probe: 'node probe.cjs' },
    }),
  );
  await writeFile(
    path.join(probeDir, 'probe.cjs'),
    `const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^npm_/i.test(k) || k === 'NODE_OPTIONS'));
require('node:fs').writeFileSync(process.env.PROBE_OUT, JSON.stringify({ argv: process.argv.slice(2), env }));
`,
  );
});

afterAll(async () => {
  await rm(probeDir, { recursive: true, force: true });
});

describe('a command started by npm with its options taken by npm', () => {
  // What a PowerShell user types after `npm run <command> --` (the `--` is lost on the way to npm).
  const cases: Array<{ command: string; typed: string[]; lost: string[]; retyped: string }> = [
    {
      command: 'build-vms',
      typed: ['--dry-run'],
      lost: ['--dry-run'],
      retyped: '.\\kubestation build-vms --dry-run',
    },
    { command: 'up', typed: ['--dry-run'], lost: ['--dry-run'], retyped: '.\\kubestation up --dry-run' },
    {
      command: 'build-vms',
      typed: ['--json', '--concurrency', '2'],
      lost: ['--concurrency', '--json'],
      retyped: '.\\kubestation build-vms --concurrency 2 --json',
    },
    {
      command: 'build-vms',
      typed: ['--concurrency=1'],
      lost: ['--concurrency'],
      retyped: '.\\kubestation build-vms --concurrency 1',
    },
    { command: 'verify', typed: ['--json'], lost: ['--json'], retyped: '.\\kubestation verify --json' },
    { command: 'status', typed: ['--json'], lost: ['--json'], retyped: '.\\kubestation status --json' },
    {
      command: 'destroy',
      typed: ['-y', '--purge'],
      lost: ['--yes', '--purge'],
      retyped: '.\\kubestation destroy --yes --purge',
    },
    {
      command: 'rebuild-node',
      typed: ['k8s-worker1', '--force'],
      lost: ['--force'],
      retyped: '.\\kubestation rebuild-node k8s-worker1 --force',
    },
    {
      command: 'seed-isos',
      typed: ['--node', 'k8s-worker1'],
      lost: ['--node'],
      retyped: '.\\kubestation seed-isos --node k8s-worker1',
    },
    {
      command: 'build-template',
      typed: ['--no-golden', '--force', '--cluster', 'lab.yaml'],
      lost: ['--cluster', '--no-golden', '--force'],
      retyped: '.\\kubestation build-template --cluster lab.yaml --no-golden --force',
    },
  ];
  const runs = new Map<string, ScriptRun>();
  const runOf = (typed: string[]): ScriptRun => runs.get(typed.join(' '))!;
  let vmrest: Awaited<ReturnType<typeof requestCounter>>;
  let labDir: string;

  beforeAll(async () => {
    // One real npm run per distinct command line (npm is slow to start).
    const distinct = [...new Set(cases.map((c) => c.typed.join(' ')))];
    await Promise.all(distinct.map(async (typed) => runs.set(typed, await npmRun(typed.split(' ')))));
    vmrest = await requestCounter();
    labDir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-npm-guard-'));
    await writeFile(path.join(labDir, 'cluster.yaml'), seedLabText);
  }, 120_000);

  afterAll(async () => {
    await vmrest.close();
    await rm(labDir, { recursive: true, force: true });
  });

  it('npm really keeps the options: the script gets npm_config_<name> and not the option', () => {
    const dryRun = runOf(['--dry-run']);
    expect(dryRun.argv).toEqual([]);
    expect(dryRun.env.npm_config_dry_run).toBe('true');
    expect(dryRun.env.npm_lifecycle_event).toBe('probe');
  });

  it.each(cases.map((c) => [`${c.command} ${c.typed.join(' ')}`, c] as const))(
    '%s is refused before any vmrest call or file change',
    async (_name, c) => {
      const run = runOf(c.typed);
      const before = await listTree(labDir);
      const out = captureOutput();
      const err = captureOutput();
      const code = await main([c.command, ...run.argv], {
        stdout: out.stream,
        stderr: err.stream,
        // The user's own variables beside npm's: vmrest credentials set, so nothing would stop a real run but the guard.
        env: {
          ...run.env,
          VMREST_URL: vmrest.url,
          VMREST_USERNAME: 'kube',
          VMREST_PASSWORD: 'not-shown',
          KUBESTATION_API_SERVER: 'https://127.0.0.1:1',
        },
        cwd: labDir,
      });
      expect(code).toBe(1);
      expect(out.text()).toBe('');
      for (const option of c.lost) expect(err.text()).toContain(option);
      expect(err.text()).toContain(`npm took ${c.lost.join(', ')} as its own setting`);
      expect(err.text()).toContain(`fix: run it as: ${c.retyped}`);
      // npm took --json: its own error JSON comes after the refusal, and the refusal says so.
      if (c.lost.includes('--json'))
        expect(err.text()).toContain('prints its own error JSON after this message');
      expect(err.text()).not.toContain('not-shown');
      expect(vmrest.count()).toBe(0);
      expect(await listTree(labDir)).toEqual(before);
    },
  );
});

describe('a command started by npm with its options intact', () => {
  it('runs: `npm run validate -- --json` (bash, cmd) reaches the command with --json; npm defaults such as npm_config_yes="" count for nothing', async () => {
    const run = await npmRun(['--', '--json']);
    expect(run.argv).toEqual(['--json']);
    expect(run.env.npm_config_yes).toBe('');
    expect(
      lostNpmOptions([], { yes: { type: 'boolean', short: 'y' }, purge: { type: 'boolean' } }, run.env),
    ).toEqual([]);
    const labDir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-npm-guard-'));
    try {
      await writeFile(path.join(labDir, 'cluster.yaml'), seedLabText);
      const out = captureOutput();
      const err = captureOutput();
      const code = await main(['validate', ...run.argv], {
        stdout: out.stream,
        stderr: err.stream,
        env: run.env,
        cwd: labDir,
      });
      expect(err.text()).toBe('');
      expect(code).toBe(0);
      expect(JSON.parse(out.text())).toMatchObject({ valid: true });
    } finally {
      await rm(labDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('does not count an option the command received, in any spelling', () => {
    const env = { npm_lifecycle_event: 'npx', npm_command: 'exec', npm_config_yes: 'true' };
    const options = { yes: { type: 'boolean', short: 'y' }, cluster: { type: 'string' } } as const;
    expect(lostNpmOptions(['--yes'], options, env)).toEqual([]);
    expect(lostNpmOptions(['-y'], options, env)).toEqual([]);
    expect(lostNpmOptions(['--no-yes'], options, env)).toEqual([]);
    expect(
      lostNpmOptions(['--cluster=x.yaml', '--yes'], options, { ...env, npm_config_cluster: 'true' }),
    ).toEqual([]);
    // npx --yes kubestation destroy: npx's own --yes never reached destroy, so it is reported.
    expect(lostNpmOptions([], options, env)).toEqual([
      { option: 'yes', variable: 'npm_config_yes', value: 'true' },
    ]);
  });

  it('does nothing when npm did not start the process, whatever the environment holds otherwise', () => {
    expect(lostNpmOptions([], { json: { type: 'boolean' } }, { JSON: 'true', PATH: '/bin' })).toEqual([]);
  });
});

describe("npm 10's completion of --node to its own node-options", () => {
  // Measured with npm 10.9.9: `npm run seed-isos --node k8s-worker1` runs the script with no argument and
  // npm_config_node_options=k8s-worker1 (also NODE_OPTIONS=k8s-worker1); npm 11 sets npm_config_node=true instead.
  const npm10 = {
    npm_lifecycle_event: 'seed-isos',
    npm_command: 'run-script',
    npm_config_yes: '',
    npm_config_node_options: 'k8s-worker1',
    NODE_OPTIONS: 'k8s-worker1',
  };

  it('is refused as a lost --node', async () => {
    const labDir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-npm-guard-'));
    try {
      await writeFile(path.join(labDir, 'cluster.yaml'), seedLabText);
      const err = captureOutput();
      const code = await main(['seed-isos'], {
        stdout: captureOutput().stream,
        stderr: err.stream,
        env: npm10,
        cwd: labDir,
      });
      expect(code).toBe(1);
      expect(err.text()).toContain(
        'npm took --node as its own setting (npm_config_node_options=k8s-worker1)',
      );
      expect(err.text()).toContain('.\\kubestation seed-isos --node k8s-worker1');
      expect(await readdir(labDir)).toEqual(['cluster.yaml']);
    } finally {
      await rm(labDir, { recursive: true, force: true });
    }
  });

  it('leaves a real node-options setting (Node flags, from an .npmrc) alone', () => {
    expect(
      lostNpmOptions(
        [],
        { node: { type: 'string' } },
        { ...npm10, npm_config_node_options: '--max-old-space-size=4096' },
      ),
    ).toEqual([]);
  });
});
