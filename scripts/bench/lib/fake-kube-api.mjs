// The fake Kubernetes API server (dist/simulators/kube-api-simulator.js) as a process of its own, playing the
// healthy cluster a good build of a cluster.yaml leaves, for the verify bench to time the whole `verify`
// command against it:
//
//   node scripts/bench/lib/fake-kube-api.mjs <cluster.yaml> <kubeconfig to write>
//
// It writes an admin kubeconfig for itself (server https://127.0.0.1:<port>), prints {"url", "hostOnlyProxy"}
// on one line and serves until its stdin closes; then it waits for every simulated pod (a real shell script per
// test pod, run by this process), stops, and prints one JSON line of CPU seconds:
//   servingCpuS  this process while it served (the API server's work for the verify)
//   ownCpuS      this process in all (start-up included)
//   podCpuS      its child processes: the simulated pods and their curl/dig/date stubs (Linux: /proc/self/stat)
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { childCpuSeconds, root } from './measure.mjs';

const [clusterFile, kubeconfigFile] = process.argv.slice(2);
if (!clusterFile || !kubeconfigFile)
  throw new Error('usage: fake-kube-api.mjs <cluster.yaml> <kubeconfig to write>');

const seconds = ({ user, system }) => (user + system) / 1e6;

const dist = (file) => import(path.join(root, 'dist', file));
const { loadClusterSpec } = await dist('src/config/load.js');
const { healthyScenarioFor } = await dist('simulators/simulated-verify.js');
const { KubeApiSimulator } = await dist('simulators/kube-api-simulator.js');

const spec = await loadClusterSpec(clusterFile);
const sim = await KubeApiSimulator.start({ scenario: healthyScenarioFor(spec) });
writeFileSync(kubeconfigFile, await sim.kubeconfig());
const serving = process.cpuUsage();
// hostOnlyProxy: the VMnet1 stand-in verify's LoadBalancer and Gateway checks must go through.
process.stdout.write(`${JSON.stringify({ url: sim.url, hostOnlyProxy: sim.hostOnlyProxy })}\n`);

process.stdin.on('end', async () => {
  await sim.settle();
  const servingCpuS = seconds(process.cpuUsage(serving));
  await sim.close();
  process.stdout.write(
    `${JSON.stringify({ servingCpuS, ownCpuS: seconds(process.cpuUsage()), podCpuS: childCpuSeconds() })}\n`,
  );
  process.exit(0);
});
process.stdin.resume();
