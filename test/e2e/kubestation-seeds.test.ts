/**
 * kubestation's own seeds in a real guest: `kubestation seed-isos` writes the control
 * plane's and a worker's seed.iso from the shipped cluster.yaml (pointed at the image's
 * stand-in package repository and flannel manifest, since the guest has no network),
 * and real cloud-init on Debian runs them to the end. Checked: cloud-init finished
 * cleanly; names, user, time, locale, network, kernel, firewall as the spec says;
 * containerd configured before the one kubeadm call, which got the generated
 * configuration; and the progress lines, read by build-vms' own parser, end in
 * "complete done" — or, with the kubeadm stand-in failing, in a fail line naming
 * the stage.
 */
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { DETECTED_VERSION_PLACEHOLDER, GUEST } from '../../src/cloudinit/guest.js';
import { FINAL_STAGE, stagesFor } from '../../src/progress/index.js';
import type { NodeSpec } from '../../src/config/model.js';
import {
  checkCloudInitSucceeded,
  checkNode,
  followProgress,
  type FirewallExpectation,
  type NodeExpectation,
} from './support/node-checks.js';
import { generateSeeds, type SeedRun } from './support/seeds.js';
import {
  STANDIN_KUBERNETES_VERSION,
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

/** The content of one write_files entry of a user-data (plain text; the generator does not encode). */
function writtenFile(userData: string, guestPath: string): string {
  const document = yaml.load(userData) as {
    write_files: { path: string; content: string; encoding?: string }[];
  };
  const entry = document.write_files.find((f) => f.path === guestPath);
  if (!entry) throw new Error(`user-data writes no ${guestPath}`);
  return entry.encoding === 'b64' || entry.encoding === 'base64'
    ? Buffer.from(entry.content, 'base64').toString('utf8')
    : entry.content;
}

/**
 * What the node must look like, from the spec — and, for the firewall, from Kubernetes'
 * port list written out here (not from the generator's own rule table).
 */
function expectationFor(run: SeedRun, node: NodeSpec): NodeExpectation {
  const { spec } = run;
  const hostOnly = spec.networks.hostOnly.subnet.cidr;
  const pods = spec.kubernetes.podSubnet.cidr;
  const fromCluster = (to: string): FirewallExpectation[] => [
    { to, from: hostOnly },
    { to, from: pods },
  ];
  const firewall: FirewallExpectation[] = [
    { to: '22/tcp' },
    ...fromCluster('10250/tcp'),
    { to: '30000:32767/tcp' },
    { to: '30000:32767/udp' },
    ...fromCluster('8472/udp'),
    { to: pods, action: 'ALLOW FWD' },
    { to: 'Anywhere', action: 'ALLOW FWD', from: pods },
  ];
  if (node.role === 'control-plane') {
    firewall.push(
      { to: `${spec.kubernetes.apiServerPort}/tcp` },
      ...fromCluster('2379:2380/tcp'),
      ...fromCluster('10257/tcp'),
      ...fromCluster('10259/tcp'),
    );
  }
  const seed = run.seeds.get(node.name);
  if (!seed) throw new Error(`no seed for ${node.name}`);
  const kubeadmConfig =
    node.role === 'control-plane'
      ? writtenFile(seed.userData, GUEST.kubeadmInit).replaceAll(
          DETECTED_VERSION_PLACEHOLDER,
          STANDIN_KUBERNETES_VERSION,
        )
      : writtenFile(seed.userData, GUEST.kubeadmJoin);
  return {
    hostname: node.name,
    hosts: spec.nodes.map((n) => [n.nics.hostOnly.address, n.name] as [string, string]),
    user: { name: spec.os.user.name, sshAuthorizedKeys: [run.sshPublicKey] },
    timezone: spec.os.timezone,
    locale: spec.os.locale,
    ntpServers: spec.os.ntpServers,
    nics: [node.nics.nat, node.nics.hostOnly].map((nic) => ({
      name: nic.guestName,
      mac: nic.mac,
      address: nic.address,
      prefix: nic.prefix,
    })),
    defaultRoute: { via: spec.networks.nat.gateway, dev: node.nics.nat.guestName },
    kernelModules: spec.os.kernelModules,
    sysctl: spec.os.sysctl,
    firewallAllows: spec.firewall.enabled ? firewall : undefined,
    kubeadm: { subcommand: node.role === 'control-plane' ? 'init' : 'join', configText: kubeadmConfig },
  };
}

describe("kubestation's generated seeds in a real guest", () => {
  let image: GuestImage;
  let run: SeedRun;

  beforeAll(async () => {
    image = await ensureGuestImage();
    logTiming(describeImage(image));
    run = await generateSeeds(await runDir('kubestation-seeds'));
  });

  async function bootNode(node: NodeSpec, label: string, options: { failCalls?: string[] } = {}) {
    const dir = await runDir(label);
    const seed = run.seeds.get(node.name);
    if (!seed) throw new Error(`seed-isos wrote no seed for ${node.name}`);
    const result = await boot({
      name: label,
      dir,
      image,
      seedIso: seed.iso,
      macs: [node.nics.nat.mac, node.nics.hostOnly.mac],
      // A worker waits for the control plane's API server; the guest is alone, so a stand-in answers.
      fakeApiEndpoint: node.role === 'worker' ? run.spec.kubernetes.apiEndpoint : undefined,
      failCalls: options.failCalls,
    });
    logTiming(`${label}: boot to power-off ${result.seconds} s`);
    return { result, root: await readBack(result) };
  }

  it('the control plane seed configures the node and runs kubeadm init once, after containerd', async () => {
    const node = run.spec.controlPlane;
    const { result, root } = await bootNode(node, node.name);
    const { progress, lines } = followProgress(result, node.name, node.role);
    expect(progress.failure, 'no stage failed').toBeUndefined();
    expect(progress.finished.map((s) => s.stage)).toEqual(stagesFor(node.role).map((s) => s.name));
    expect(progress.status).toBe('done');
    expect(lines.at(-1)).toMatchObject({ node: node.name, stage: FINAL_STAGE, event: 'done' });
    await checkCloudInitSucceeded(result, root);
    await checkNode(result, root, expectationFor(run, node));
    // The image's fstab had a swap file (as Ubuntu Server's has), so the os stage really turned one off.
    expect(await readGuestFile(root, '/etc/fstab.kubestation-orig')).toMatch(/^\/swap\.img\s+none\s+swap\s/m);
    // The CNI manifest was fetched from the spec's URL and applied.
    const calls = await standinCalls(root);
    expect(
      calls.some(
        (c) =>
          c.program === 'kubectl' &&
          c.argv.includes('apply') &&
          c.files.some((f) => f.path.endsWith('kube-flannel.yml')),
      ),
    ).toBe(true);
  });

  it('a worker seed configures the node and runs kubeadm join once, after containerd', async () => {
    const node = run.spec.workers[0];
    if (!node) throw new Error('the shipped cluster.yaml has no worker');
    const { result, root } = await bootNode(node, node.name);
    const { progress, lines } = followProgress(result, node.name, node.role);
    expect(progress.failure, 'no stage failed').toBeUndefined();
    expect(progress.finished.map((s) => s.stage)).toEqual(stagesFor(node.role).map((s) => s.name));
    expect(lines.at(-1)).toMatchObject({ node: node.name, stage: FINAL_STAGE, event: 'done' });
    await checkCloudInitSucceeded(result, root);
    await checkNode(result, root, expectationFor(run, node));
  });

  it('when kubeadm fails, the progress lines end in a fail line naming the kubeadm-init stage', async () => {
    const node = run.spec.controlPlane;
    const { result, root } = await bootNode(node, `${node.name}-kubeadm-fails`, {
      failCalls: ['kubeadm:init'],
    });
    const { progress, lines } = followProgress(result, node.name, node.role);
    expect(progress.status).toBe('failed');
    expect(progress.failure?.stage).toBe('kubeadm-init');
    expect(progress.failure?.message).toContain('kubestation e2e stand-in kubeadm was told to fail');
    expect(lines.at(-1)).toMatchObject({ stage: 'kubeadm-init', event: 'fail' });
    expect(lines.some((l) => l.event === 'done')).toBe(false);
    const stages = stagesFor(node.role).map((s) => s.name);
    expect(progress.finished.map((s) => s.stage)).toEqual(stages.slice(0, stages.indexOf('kubeadm-init')));
    const kubeadmRuns = (await standinCalls(root)).filter(
      (c) => c.program === 'kubeadm' && c.argv[0] === 'init',
    );
    expect(kubeadmRuns.map((c) => c.failOnPurpose)).toEqual([true]);
  });
});
