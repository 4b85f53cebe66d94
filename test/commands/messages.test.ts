/**
 * What a new user reads first (issue 21 §6): the top-level help points at
 * --simulate; a config error names the file that was read and the command
 * that checks it; a missing or dash-led option value is said in kubestation's
 * words with the option's range; every command hint in src/ has one form,
 * the repository-root wrapper (src/command-hint.ts).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { withoutStagePrefix } from '../../src/bringup/view.js';
import { seedLabText } from '../config/bad-spec-cases.js';
import { captureOutput } from '../template/fixtures.js';
import { repoRoot } from '../bringup/lab.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-messages-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(argv: string[]) {
  const out = captureOutput();
  const err = captureOutput();
  const code = await main(argv, { stdout: out.stream, stderr: err.stream, env: {}, cwd: dir });
  return { code, stdout: out.text(), stderr: err.text() };
}

describe('messages', () => {
  it('the top-level help mentions --simulate and the wrapper form', async () => {
    const { stdout } = await cli(['--help']);
    expect(stdout).toContain('.\\kubestation up --simulate');
    expect(stdout).toMatch(/^usage: \.\\kubestation <command>/);
  });

  it('a config error read through --cluster names that file and the command that checks it', async () => {
    await writeFile(path.join(dir, 'other.yaml'), seedLabText.replace(/cpus: \d+/, 'cpus: 1'));
    await writeFile(path.join(dir, 'broken lab.yaml'), seedLabText.replace('name: k8s-lab', 'name: K8S_LAB'));
    const other = await cli(['validate', '--cluster', 'other.yaml']);
    expect(other.code).toBe(1);
    const file = path.join(dir, 'other.yaml');
    expect(other.stderr).toContain(
      `fix: correct the fields above in ${file}, then check it again with \`.\\kubestation validate --cluster ${file}\``,
    );
    expect(other.stderr).not.toContain('in cluster.yaml, then');
    const spaced = await cli(['build-vms', '--dry-run', '--cluster', 'broken lab.yaml']);
    expect(spaced.stderr).toContain(`validate --cluster "${path.join(dir, 'broken lab.yaml')}"`);
  });

  it("says a dash-led or missing option value in kubestation's words, with the option's range", async () => {
    const scale = await cli(['verify', '--deadline-scale', '-1']);
    expect(scale.code).toBe(1);
    expect(scale.stderr).toContain(
      `--deadline-scale takes a positive number (e.g. 2 on a slow host); "-1" starts with '-', so it was not read as its value`,
    );
    expect(scale.stderr).not.toMatch(/ambiguous|XYZ/);
    const concurrency = await cli(['build-vms', '--concurrency']);
    expect(concurrency.code).toBe(1);
    expect(concurrency.stderr).toContain('--concurrency needs a value: a whole number from 1 to 64');
    expect(concurrency.stderr).not.toContain('argument missing');
    expect(concurrency.stderr).toContain("fix: '.\\kubestation build-vms --help' lists its options");
  });

  it("a guest's progress message loses the prefix its stage already shows", () => {
    expect(withoutStagePrefix('images', 'images: pulling 1 of 7 registry.k8s.io/pause')).toBe(
      'pulling 1 of 7 registry.k8s.io/pause',
    );
    expect(withoutStagePrefix('kubeadm-init', 'kubeadm: phase preflight')).toBe('phase preflight');
    expect(withoutStagePrefix('apt', 'kubeadm: phase preflight')).toBe('kubeadm: phase preflight');
  });

  it('every command hint in src/ uses the wrapper form through src/command-hint.ts', async () => {
    const offenders: string[] = [];
    const walk = async (folder: string): Promise<void> => {
      for (const entry of await readdir(folder, { withFileTypes: true })) {
        const file = path.join(folder, entry.name);
        if (entry.isDirectory()) await walk(file);
        else if (entry.name.endsWith('.ts') && !entry.name.includes('generated')) {
          const lines = (await readFile(file, 'utf8')).split('\n');
          lines.forEach((line, i) => {
            if (/^\s*(\*|\/\/|\/\*\*)/.test(line)) return; // comments
            if (
              /npx kubestation|npm run (build|validate|verify|up|status|doctor|stop|start)|\\`kubestation [a-z]|usage: kubestation|'kubestation (\$|[a-z-]+ --)|e\.g\. kubestation|run kubestation (up|validate|build|verify|status|doctor|stop|start|snapshot|destroy|seed|rebuild)/.test(
                line,
              ) ||
              (/\.\\\\kubestation/.test(line) && !file.endsWith('command-hint.ts'))
            )
              offenders.push(`${path.relative(repoRoot, file)}:${i + 1}: ${line.trim()}`);
          });
        }
      }
    };
    await walk(path.join(repoRoot, 'src'));
    expect(offenders).toEqual([]);
  });
});
