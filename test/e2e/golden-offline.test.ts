/**
 * A rebuild with no way out: the control plane's seed boots golden.img — the guest image as
 * a golden bake leaves a template (stand-in packages installed and held, the control-plane,
 * CNI and verify images in the image store, the CNI manifest kept, golden.json written by the
 * bake's own marker writer) — with both NICs on internal hubs and nothing behind them: no
 * gateway, no DNS, no repository. The seed names the real sources (pkgs.k8s.io, Docker's
 * repository, flannel's release URL on github.com), so any download would fail. Checked: the
 * first boot reaches kubeadm init and finishes with no fail line; no stage checked the way out
 * or downloaded anything (no apt source added, no image pulled, the kept manifest applied).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { FINAL_STAGE, stagesFor } from '../../src/progress/index.js';
import { checkCloudInitSucceeded, followProgress } from './support/node-checks.js';
import { generateSeeds, type SeedRun } from './support/seeds.js';
import {
  GOLDEN_CNI_MANIFEST_URL,
  GOLDEN_CNI_VERSION,
  READ_BACK_PATHS,
  boot,
  describeImage,
  ensureGuestImage,
  logTiming,
  readBack,
  readGuestFile,
  runDir,
  standinCalls,
  type GuestImage,
} from './support/rig.js';

describe('an offline first boot from a golden template', () => {
  let image: GuestImage;
  let run: SeedRun;

  beforeAll(async () => {
    image = await ensureGuestImage();
    logTiming(describeImage(image));
    // The shipped cluster.yaml as a user has it: the real package repositories, and the CNI
    // release the golden image was baked for at its real https URL.
    run = await generateSeeds(await runDir('golden-offline-seeds'), (cluster) => {
      delete cluster.kubernetes.packageRepository;
      cluster.kubernetes.cni = {
        name: 'flannel',
        version: GOLDEN_CNI_VERSION,
        manifestUrls: [GOLDEN_CNI_MANIFEST_URL],
      };
    });
  });

  it('the control plane finishes kubeadm init with no network at all, downloading nothing', async () => {
    const node = run.spec.controlPlane;
    expect(run.spec.kubernetes.packageRepository).toMatch(/^https:\/\/pkgs\.k8s\.io\//);
    const dir = await runDir('golden-offline');
    const result = await boot({
      name: 'golden-offline',
      dir,
      image,
      golden: true,
      seedIso: run.seeds.get(node.name)!.iso,
      macs: [node.nics.nat.mac, node.nics.hostOnly.mac],
      // Software emulation on a shared, loaded host: cloud-init alone has taken 10 minutes to start.
      timeoutSeconds: 1800,
    });
    logTiming(`golden-offline: boot to power-off ${result.seconds} s`);
    const root = await readBack(result, [...READ_BACK_PATHS, '/var/lib/kubestation/cni']);

    const { progress, lines } = followProgress(result, node.name, node.role);
    expect(progress.failure, 'no stage failed').toBeUndefined();
    expect(lines.filter((l) => l.event === 'fail')).toEqual([]);
    expect(progress.finished.map((s) => s.stage)).toEqual(stagesFor(node.role).map((s) => s.name));
    expect(lines.at(-1)).toMatchObject({ node: node.name, stage: FINAL_STAGE, event: 'done' });
    await checkCloudInitSucceeded(result, root);

    // The way out was never checked: nothing had to be downloaded.
    const packagesLog = await readGuestFile(root, '/var/log/kubestation/packages.log');
    expect(packagesLog).toContain('nothing to download, no network check');
    expect(packagesLog).not.toContain('network check:');
    expect(result.console).not.toMatch(/network (no-route|gateway|dns|repository):/);
    expect(lines.some((l) => l.message.includes('network: checking the way out'))).toBe(false);
    // No Kubernetes or containerd apt source was added: the packages came with the template.
    const sources = await readGuestFile(root, '/etc/apt/sources.list.d/kubernetes.list').catch(() => '');
    expect(sources).toBe('');
    const okMessage = (stage: string) => lines.find((l) => l.stage === stage && l.event === 'ok')?.message;
    expect(okMessage('packages')).toContain('(from template)');

    // kubeadm init ran once; no image was pulled; the CNI manifest applied is the template's copy.
    const calls = await standinCalls(root);
    expect(calls.filter((c) => c.program === 'kubeadm' && c.argv[0] === 'init')).toHaveLength(1);
    expect(calls.filter((c) => c.program === 'crictl' && c.argv.includes('pull'))).toEqual([]);
    expect(calls.filter((c) => c.program === 'kubeadm' && c.argv.join(' ').includes('images pull'))).toEqual(
      [],
    );
    expect(okMessage('images')).toMatch(/^all \d+ images for v[\d.]+ already present$/);
    const cniLog = await readGuestFile(root, '/var/log/kubestation/cni.log');
    expect(cniLog).toContain(`${GOLDEN_CNI_MANIFEST_URL}: the golden template's copy`);
    expect(cniLog).not.toContain('fetching');
    const applied = await readGuestFile(root, '/var/lib/kubestation/cni/1-kube-flannel.yml');
    expect(applied).toContain('kubestation-e2e/flannel-standin');
    expect(
      calls.some(
        (c) =>
          c.program === 'kubectl' &&
          c.argv.includes('apply') &&
          c.files.some((f) => f.path.endsWith('1-kube-flannel.yml')),
      ),
    ).toBe(true);
  });
});
