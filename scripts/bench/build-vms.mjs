// build-vms against the vmrest simulator with Workstation's latencies modelled (clone ~60 s,
// power-on ~5 s, boot ~30 s, first-boot stages as below), scaled down by TIME_FACTOR so it runs
// in seconds. Reports the whole build's time against the modelled critical path (the time the
// slowest dependency chain needs at this concurrency) for 3 and 30 nodes, and vmrest calls per node.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const title = 'build-vms: total time vs modelled critical path (simulated Workstation)';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (p) => import(path.join(root, 'dist', 'src', p));
const distSim = (p) => import(path.join(root, 'dist', 'simulators', p));

const TIME_FACTOR = 1 / 60; // 60 s of Workstation time = 1 s here (a smaller factor lets fixed ms costs dominate)
const real = { cloneS: 60, powerOnS: 5, bootS: 30, firstReportS: 10 };
/** Modelled stage durations (s) on a healthy node with a warm package mirror. */
const stageS = { os: 5, packages: 120, containerd: 5, firewall: 5, images: 60, 'kubeadm-init': 60, cni: 20, 'nodes-ready': 10, 'wait-api': 1, 'kubeadm-join': 20 };

function clusterYaml(base, workers) {
  const nodes = [`  - name: k8s-master\n    role: control-plane\n    natAddress: 192.168.5.11\n    hostOnlyAddress: 172.100.100.2`];
  for (let i = 1; i <= workers; i++) nodes.push(`  - name: k8s-worker${i}\n    role: worker\n    natAddress: 192.168.5.${11 + i}\n    hostOnlyAddress: 172.100.100.${2 + i}`);
  return base.replace(/^nodes:\n(?:  .*\n|    .*\n)+/m, `nodes:\n${nodes.join('\n')}\n`);
}

/** The critical path at concurrency c: clone waves, then boot, the control plane's init, the last join, nodes-ready. */
function modelledCriticalPathS(nodeCount, concurrency) {
  // Clones run `concurrency` at a time; everything after a clone is milliseconds plus the power-on.
  const bootDone = (i) => (Math.floor(i / concurrency) + 1) * real.cloneS + real.powerOnS + real.bootS + real.firstReportS;
  const common = stageS.os + stageS.packages + stageS.containerd + stageS.firewall;
  const initDone = bootDone(0) + common + stageS.images + stageS['kubeadm-init'];
  let lastJoin = 0;
  for (let i = 1; i < nodeCount; i++) lastJoin = Math.max(lastJoin, Math.max(bootDone(i) + common, initDone) + stageS['wait-api'] + stageS['kubeadm-join']);
  return Math.max(initDone + stageS.cni, lastJoin) + stageS['nodes-ready'];
}

async function buildOnce(nodeCount) {
  const { parseClusterSpec } = await dist('config/load.js');
  const { startSimulatedLab, growDescriptorDisk } = await distSim('simulated-lab.js');
  const { buildVms } = await dist('bringup/build-vms.js');
  const { prepareSeedInputs, writeNodeSeed } = await dist('cloudinit/write-seed.js');
  const base = await readFile(path.join(root, 'cluster.yaml'), 'utf8');
  const spec = parseClusterSpec(clusterYaml(base, nodeCount - 1), { sourcePath: path.join(root, 'cluster.yaml') });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-bench-'));
  const ms = (s) => s * 1000 * TIME_FACTOR;
  const calls = [];
  const lab = await startSimulatedLab(spec, {
    dir,
    bootDelayMs: ms(real.bootS),
    latencies: { cloneMs: ms(real.cloneS), powerOnMs: ms(real.powerOnS) },
    guest: { firstReportMs: ms(real.firstReportS), stageMs: Object.fromEntries(Object.entries(stageS).map(([k, v]) => [k, ms(v)])) },
    client: { onRequest: (e) => calls.push(e) },
  });
  try {
    const inputs = await prepareSeedInputs(lab.spec); // secrets made once, outside the timed build
    const started = performance.now();
    const result = await buildVms(
      lab.spec,
      {
        vmrest: lab.client,
        writeSeed: async (s, node) => (await writeNodeSeed(s, node, inputs.inputs)).iso.path,
        growDisk: growDescriptorDisk,
        verify: undefined,
        emit: () => undefined,
        clonesFolder: lab.clonesFolder,
        sshIdentityFile: undefined,
      },
      { timing: { deadlineScale: TIME_FACTOR * 4, pollMs: 5 } },
    );
    const totalMs = performance.now() - started;
    if (result.status !== 'ready') throw new Error(`build ended ${result.status}`);
    const modelledMs = ms(modelledCriticalPathS(nodeCount, lab.spec.vmware.concurrency));
    return { totalMs, modelledMs, callsPerNode: calls.length / nodeCount, concurrency: lab.spec.vmware.concurrency };
  } finally {
    await lab.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(report) {
  for (const nodes of [3, 30]) {
    const r = await buildOnce(nodes);
    const ratio = r.totalMs / r.modelledMs;
    report(`${nodes} nodes: total (scaled)`, r.totalMs / 1000, 's', `concurrency ${r.concurrency}`);
    report(`${nodes} nodes: modelled critical path (scaled)`, r.modelledMs / 1000, 's', `${(r.modelledMs / 1000 / TIME_FACTOR / 60).toFixed(1)} min real`);
    report(`${nodes} nodes: total / critical path`, ratio, '', 'target <= 1.05');
    report(`${nodes} nodes: vmrest calls per node`, r.callsPerNode, 'calls');
    report.target(`${nodes} nodes: total <= 1.05 x modelled critical path`, ratio <= 1.05);
  }
}
