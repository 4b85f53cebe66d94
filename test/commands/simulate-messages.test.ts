/**
 * `build-vms --simulate` runs in a temporary folder it deletes at the end: its
 * last words must not point into that folder (no kubectl/ssh lines) nor
 * promise that an interrupted simulation can be continued.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuildVms } from '../../src/commands/build-vms.js';
import { captureOutput } from '../template/fixtures.js';
import { repoRoot } from '../bringup/lab.js';

async function simulate(stageMs: number, onOutput?: (text: string) => void, golden?: boolean) {
  const err = captureOutput();
  let text = '';
  const out = captureOutput();
  const write = out.stream.write.bind(out.stream);
  out.stream.write = ((chunk: string, ...rest: never[]) => {
    text += String(chunk);
    onOutput?.(text);
    return write(chunk, ...rest);
  }) as typeof out.stream.write;
  const code = await runBuildVms(
    {
      argv: [
        '--simulate',
        '--skip-verify',
        '--cluster',
        path.join(repoRoot, 'cluster.yaml'),
        '--deadline-scale',
        '0.05',
      ],
      stdout: out.stream,
      stderr: err.stream,
      env: {},
      cwd: repoRoot,
    },
    {
      simulate: {
        stageMs,
        cloneMs: 5,
        bootDelayMs: 5,
        pollMs: 5,
        ...(golden === undefined ? {} : { golden }),
      },
    },
  );
  return { code, stdout: text, stderr: err.text() };
}

describe('build-vms --simulate', () => {
  it('ends saying its files are deleted, with no kubectl or ssh line pointing at them', async () => {
    const { code, stdout, stderr } = await simulate(2);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const simDir = /files in (\S+)$/m.exec(stdout)?.[1];
    expect(simDir).toBeDefined();
    expect(existsSync(simDir!)).toBe(false);
    expect(stdout).toContain(
      `simulated cluster k8s-lab is ready (verify skipped); its files in ${simDir} are deleted now and no VM was made. Build the real lab with: .\\kubestation up`,
    );
    expect(stdout).not.toMatch(/kubectl --kubeconfig|ssh -F/);
    // The default road: linked clones of the template's snapshot, made by the simulated lab's vmrun.
    expect(stdout).toMatch(
      /^clones: linked, from the template's snapshot kubestation-golden-[\d.]+-[0-9a-f]{12} \(vmware.cloneMode defaults to linked\)$/m,
    );
    expect(stdout).toMatch(/^k8s-worker1: clone done \(.*k8s-worker1\.vmx\)$/m);
    // The guest's own prefix is not repeated after the stage's, and no parentheses nest.
    // (The simulated template is golden by default: the images are already there.)
    expect(stdout).toMatch(/k8s-master: images: all 7 images for v[\d.]+ already present/);
    expect(stdout).toMatch(/k8s-master: kubeadm-init: phase preflight/);
    expect(stdout).not.toMatch(/images: images:|kubeadm-init: kubeadm:|kubeadm-join: kubeadm:/);
    expect(stdout).toMatch(/disk done \(\d+ GiB: the template size is enough\)/);
    expect(stdout).not.toMatch(/\([^()\n]*\(/);
    // No disk is made in the temporary folder: no warning about the node disks' size there.
    expect(stdout).not.toContain('may grow');
  });

  it('takes the golden road by default: the plan says a first boot downloads nothing, the nodes install nothing', async () => {
    const { code, stdout } = await simulate(2);
    expect(code).toBe(0);
    expect(stdout).toContain('golden template: matches cluster.yaml: a first boot downloads nothing\n');
    expect(stdout).toContain(
      'k8s-worker1: packages: template already holds Kubernetes 1.37 (golden marker): nothing to download',
    );
    expect(stdout).not.toContain('apt: download');
    // A template never baked (up --no-golden): the plan says what every first boot downloads.
    const plain = await simulate(2, undefined, false);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain(
      'golden template: the template is not baked (golden): every node downloads containerd and the Kubernetes packages',
    );
    expect(plain.stdout).toContain('apt: download 12 of 57');
  });

  it('after Ctrl-C says the simulated lab is gone, not that progress is saved', async () => {
    let interrupted = false;
    const { code, stderr } = await simulate(200, (text) => {
      // Once the simulated VMs are cloned and booting, the user presses Ctrl-C.
      if (!interrupted && /files in /.test(text)) {
        interrupted = true;
        setTimeout(() => process.emit('SIGINT'), 300);
      }
    });
    expect(interrupted).toBe(true);
    expect(code).toBe(130);
    expect(stderr).toMatch(
      /simulation interrupted; the simulated lab in \S+ is deleted now, so a new run starts over/,
    );
    expect(stderr).not.toContain('progress is saved');
  });
});
