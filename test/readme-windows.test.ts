/**
 * The README as a Windows user types it (issue 21 §3): every line a user may paste works in PowerShell 5.1
 * and 7, commands with options use the repository's wrapper, the prerequisites name every tool the README
 * uses, and its facts match the code (Node version, seed ISO sizes from a real seed-isos run).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { VmrestAuthError, VmrestNotRunningError } from '../src/vmrest/errors.js';
import { tempDir } from './support/temp-dir.js';
import { BEGIN, END } from '../scripts/bench/lib/readme.mjs';

const root = new URL('..', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  engines: { node: string };
};

/** The fenced blocks marked powershell: what a user pastes as it is. */
const powershellBlocks = [...readme.matchAll(/```powershell\n([\s\S]*?)```/g)].map((m) => m[1]!);
/** The README without its Tests section (Linux-only commands, typed in bash). */
const userPart =
  readme.slice(0, readme.indexOf('## Tests')) + readme.slice(readme.indexOf('## Troubleshooting'));
/** Every inline code span of that part (the commands and values a Windows user types). */
const codeSpans = [...userPart.matchAll(/(?<!`)`([^`\n]+)`(?!`)/g)].map((m) => m[1]!);

describe('README: lines a Windows user pastes', () => {
  it('sets environment variables in single quotes (PowerShell expands $ and ` inside double quotes)', () => {
    const assignments = [...readme.matchAll(/\$env:\w+\s*=\s*(\S)/g)];
    expect(assignments.length).toBeGreaterThan(0);
    for (const a of assignments) expect(a[0]).toMatch(/= '$/);
  });

  it('runs vmrest from the Workstation folder as .\\vmrest.exe (PowerShell needs the .\\), in the README and in the errors', () => {
    const unprefixed = [...readme.matchAll(/(.)vmrest\.exe/g)].filter((m) => m[1] !== '\\');
    expect(unprefixed.map((m) => m[0])).toEqual([]);
    const errors = [
      new VmrestNotRunningError('https://127.0.0.1:8697/api', { call: 'GET /vms' }),
      new VmrestAuthError({ call: 'GET /vms' }),
    ];
    for (const error of errors) {
      expect(error.fix).toContain('.\\vmrest.exe');
      expect(error.fix).not.toMatch(/[^\\]vmrest\.exe/);
    }
    expect(errors[0]!.fix).toContain('pushd "C:\\Program Files (x86)\\VMware\\VMware Workstation"');
  });

  it('has no POSIX-only or PowerShell-7-only syntax and no <placeholder> in the PowerShell blocks', () => {
    expect(powershellBlocks.length).toBeGreaterThanOrEqual(4);
    for (const block of powershellBlocks) {
      expect(block).not.toMatch(/&&|\|\||\bexport\s|\$\(|^\s*\.\/|<[^>\n]*>/m);
      // Every command line runs in the kubestation folder through the wrapper, npm, kubectl or ssh.
      for (const line of block.split('\n').filter((l) => l.trim() !== '')) {
        expect(line).toMatch(/^(\.\\kubestation |npm ci\b|kubectl |ssh |\$env:\w+ = ')/);
      }
    }
  });

  it('types every kubestation command as .\\kubestation (npx and a global install only as the named alternatives)', () => {
    const alternatives = readme.slice(
      readme.indexOf('Alternatives:'),
      readme.indexOf('## Adding and removing'),
    );
    const rest = readme.replace(alternatives, '');
    // The benchmark section quotes the forms it timed, npx among them.
    const bench = rest.slice(rest.indexOf(BEGIN), rest.indexOf(END));
    const npxCommands = rest
      .replace(bench, '')
      .split('\n')
      .filter((l) => /npx kubestation \S/.test(l) && !l.includes('npm error 404'));
    expect(npxCommands).toEqual([]);
    const bare = codeSpans.filter(
      (s) => /^kubestation [a-z-]+/.test(s) && !alternatives.includes(`\`${s}\``),
    );
    expect(bare).toEqual([]);
    expect(readme).toContain('### Commands with options: `.\\kubestation <command> [options]`');
    // Commands with options are shown through the wrapper.
    const withOptions = codeSpans.filter((s) => /^(\.\\|npx )?kubestation [a-z-]+ .*--[a-z]/.test(s));
    expect(withOptions.length).toBeGreaterThan(20);
    for (const s of withOptions.filter((x) => !alternatives.includes(x)))
      expect(s).toMatch(/^\.\\kubestation /);
  });

  it('says how to get past the execution policy that refuses npm.ps1', () => {
    expect(readme).toContain('running scripts is disabled on this system');
    expect(readme).toContain('`Set-ExecutionPolicy -Scope CurrentUser RemoteSigned`');
    expect(readme).toContain('`npm.cmd ci`');
  });
});

describe('README: prerequisites and facts', () => {
  const prerequisites = readme.slice(readme.indexOf('## Prerequisites'), readme.indexOf('## Set up and run'));

  it('lists kubectl and the OpenSSH client, which the README uses, with how to get them', () => {
    expect(userPart).toContain('kubectl --kubeconfig');
    expect(userPart).toContain('ssh -F');
    expect(prerequisites).toContain('`winget install -e --id Kubernetes.kubectl`');
    expect(prerequisites).toContain('`Get-WindowsCapability -Online -Name OpenSSH.Client*`');
    expect(prerequisites).toMatch(/OpenSSH client[\s\S]*optional feature/);
  });

  it("names the Node.js version package.json's engines requires", () => {
    const minimum = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines.node)?.[1];
    expect(minimum).toBeDefined();
    const stated = [
      ...readme.matchAll(
        /Node(?:\.js)? (\d+\.\d+(?:\.\d+)?)\+? or newer|Node(?:\.js)? (\d+\.\d+(?:\.\d+)?)\+/g,
      ),
    ];
    expect(stated.length).toBeGreaterThan(0);
    for (const m of stated) expect(m[1] ?? m[2]).toBe(minimum);
  });

  it('cites no path of the development machine', () => {
    expect(readme).not.toMatch(/\/work\/|\.\.\/shared|\/home\/|\/tmp\//);
  });

  it('states the seed ISO sizes a real seed-isos run of the shipped cluster.yaml writes', async () => {
    const dir = tempDir('kubestation-readme-seeds-');
    writeFileSync(path.join(dir, 'cluster.yaml'), readFileSync(new URL('cluster.yaml', root)));
    const sink = new Writable({ write: (_c, _e, done) => done() });
    expect(await main(['seed-isos'], { stdout: sink, stderr: sink, env: {}, cwd: dir })).toBe(0);
    const kib = ['k8s-master', 'k8s-worker1', 'k8s-worker2'].map(
      (node) => statSync(path.join(dir, '.kubestation', node, 'seed.iso')).size / 1024,
    );
    const row = /seed ISOs are (\d+)–(\d+) KiB/.exec(readme);
    expect(row).not.toBeNull();
    expect(Math.round(Math.min(...kib))).toBe(Number(row![1]));
    expect(Math.round(Math.max(...kib))).toBe(Number(row![2]));
  });
});
