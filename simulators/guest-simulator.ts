/**
 * A simulated node's first boot, for the vmrest simulator's `onGuestBoot`
 * hook: it writes to the VM's serial console file what a real guest of that
 * role writes there — console noise plus the progress lines of
 * src/progress (same formatter, same stage list, same order) — with
 * configurable timing, a failure at a chosen stage, or silence.
 *
 * Like a real guest it depends on what the host set up: without a connected
 * seed ISO cloud-init never runs (silence); with NIC MACs other than the
 * spec's, network-config matches no adapter and the first network stage
 * fails. Workers wait for the control plane's API (kubeadm-init done) before
 * joining, and the control plane's `nodes-ready` waits for every worker, so
 * the modelled critical path is the real one.
 *
 * A VM that already finished its first boot boots as an installed node does:
 * cloud-init finds its instance done and runs no first-boot stage again (no
 * progress lines), the static addresses come back and Tools report them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { formatNetworkFailure, type NetworkCauseCode } from '../src/progress/network-causes.js';
import { formatProgressLine, type ProgressEvent } from '../src/progress/protocol.js';
import { FINAL_STAGE, stagesFor, type StageName } from '../src/progress/stages.js';
import type { ClusterSpec, NodeSpec } from '../src/config/model.js';
import type { SimulatedGuest } from './vmrest-simulator.js';

export interface GuestBehaviour {
  /** Time from boot to the first progress line. Default 5 ms. */
  firstReportMs?: number;
  /** Time each stage takes (ms), per stage or one number. Default 5 ms. */
  stageMs?: number | Partial<Record<StageName, number>>;
  /** The stage that fails (prints `fail` with a log tail), on the nodes listed in `nodes` (default all). */
  failAt?: { stage: StageName; nodes?: string[]; message?: string };
  /** The stage after whose `start` the guest says nothing more (hung). 'boot' = no line at all. */
  silentAt?: { stage: StageName | 'boot'; nodes?: string[] };
  /** The node cannot get out (as with VMware NAT stopped): `packages` fails with the network check's cause line. */
  noNetwork?: { cause: NetworkCauseCode; nodes?: string[] };
  /** Info lines ("apt: download 12 of 57") spread over each long stage, as a real guest's heartbeat. Default true. */
  activity?: boolean;
  /** Cloned from a golden template that matches the spec: packages and images download nothing. */
  golden?: boolean;
}

/** What a real guest's stages say they are doing (cloud-init/lib/*.sh), in order. */
function stageActivity(stage: StageName, spec: ClusterSpec, since: string, golden: boolean): string[] {
  const version = `v${spec.kubernetes.patch ?? `${spec.kubernetes.minor}.0`}`;
  if (golden && stage === 'packages')
    return [
      `template already holds Kubernetes ${spec.kubernetes.minor} (golden marker): nothing to download`,
    ];
  if (golden && stage === 'images') return [`all 7 images for ${version} already present`];
  switch (stage) {
    case 'packages':
      return ['apt: update', 'apt: download 12 of 57', 'apt: unpack kubelet (60%)'];
    case 'images':
      return ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map(
        (name, i) => `images: pulling ${i + 1} of 7 registry.k8s.io/${name}:${version}`,
      );
    case 'kubeadm-init':
      return ['preflight', 'certs', 'wait-control-plane'].map((phase) => `kubeadm: phase ${phase}`);
    case 'kubeadm-join':
      return ['preflight', 'kubelet-start'].map((phase) => `kubeadm: phase ${phase}`);
    case 'cni':
      return [`waiting for the ${spec.kubernetes.cni.name} DaemonSet to roll out since ${since}`];
    case 'nodes-ready':
      return [`waiting for every node to be Ready since ${since}`];
    case 'wait-api':
      return [`waiting for https://${spec.kubernetes.apiEndpoint}/readyz since ${since}`];
    default:
      return [];
  }
}

/** What the network check prints for each cause (cloud-init/lib/network.sh), for a node of the default lab. */
function networkFailureFor(cause: NetworkCauseCode, spec: ClusterSpec): string {
  const gateway = spec.networks.nat.gateway;
  const detail: Record<NetworkCauseCode, string> = {
    'no-route': 'no default route (ens33: no address)',
    gateway: `the NAT gateway ${gateway} does not answer (no reply to ping on ens33) and pkgs.k8s.io does not resolve`,
    dns: `the gateway ${gateway} answers but the DNS servers ${spec.os.dnsServers.join(', ')} do not resolve pkgs.k8s.io`,
    repository: `pkgs.k8s.io resolves but ${spec.kubernetes.packageRepository} does not answer (curl: (28) Connection timed out after 8001 milliseconds)`,
  };
  return `${formatNetworkFailure(cause, detail[cause])} (exit code 20, log /var/log/kubestation/packages.log) | last log lines:\nnetwork check: ${detail[cause]}`;
}

export interface GuestSimulatorOptions {
  spec: ClusterSpec;
  behaviour?: GuestBehaviour;
  /** Called when a node prints its final line (e.g. to mark it Ready in a fake API server). */
  onNodeComplete?: (node: NodeSpec) => void | Promise<void>;
  /** Guest clock; default Date.now. */
  now?: () => number;
}

interface Waiter {
  done: boolean;
  resolve: () => void;
  promise: Promise<void>;
}

function waiter(): Waiter {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  const w: Waiter = { done: false, resolve: () => ((w.done = true), resolve()), promise };
  return w;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether the serial console lines below apply to `node`. */
function applies(nodes: string[] | undefined, node: string): boolean {
  return nodes === undefined || nodes.includes(node);
}

export class GuestSimulator {
  #spec: ClusterSpec;
  readonly #behaviour: GuestBehaviour;
  readonly #onNodeComplete: GuestSimulatorOptions['onNodeComplete'];
  readonly #now: () => number;
  /** Control plane API up (kubeadm-init ok). */
  #apiUp = waiter();
  /** Per worker: joined. */
  readonly #joined = new Map<string, Waiter>();
  /** Guests that booted, in order (for assertions). */
  readonly booted: string[] = [];
  /** Later boots of installed VMs (no first-boot stages), in order. */
  readonly rebooted: string[] = [];
  /** VM ids whose first boot finished. */
  readonly #installed = new Set<string>();
  #stopped = false;

  constructor(options: GuestSimulatorOptions) {
    this.#spec = options.spec;
    this.#behaviour = options.behaviour ?? {};
    this.#onNodeComplete = options.onNodeComplete;
    this.#now = options.now ?? Date.now;
    for (const w of this.#spec.workers) this.#joined.set(w.name, waiter());
  }

  /**
   * The lab owner edited cluster.yaml (a worker added): guests booting from now on carry seeds
   * rendered from `spec`. Nodes already running keep what they booted with.
   */
  useSpec(spec: ClusterSpec): void {
    this.#spec = spec;
    for (const w of spec.workers) if (!this.#joined.has(w.name)) this.#joined.set(w.name, waiter());
  }

  /** Pass to VmrestSimulatorOptions.onGuestBoot. */
  readonly onGuestBoot = (guest: SimulatedGuest): Promise<void> => this.#run(guest);

  /** Stops every running guest script (pending writes are dropped). */
  stop(): void {
    this.#stopped = true;
    this.#apiUp.resolve();
    for (const w of this.#joined.values()) w.resolve();
  }

  #stageMs(stage: StageName): number {
    const s = this.#behaviour.stageMs;
    if (typeof s === 'number') return s;
    return s?.[stage] ?? 5;
  }

  async #run(guest: SimulatedGuest): Promise<void> {
    const node = this.#spec.nodes.find((n) => n.name === guest.name);
    if (!node) return; // not a node of this cluster (e.g. the template booted for a bake)
    if (this.#installed.has(guest.id)) return this.#reboot(guest, node);
    this.booted.push(node.name);
    const write = async (text: string): Promise<void> => {
      if (!this.#stopped) await guest.writeSerial(text);
    };
    const report = async (stage: string, event: ProgressEvent, message = ''): Promise<void> => {
      await write(`${formatProgressLine({ node: node.name, stage, event, timeMs: this.#now(), message })}\n`);
    };

    await write(
      `[    0.000000] Linux version 6.8.0-generic (buildd@lcy02-amd64) #1 SMP\n[    1.204311] systemd[1]: Hostname set to <ubuntu>.\n`,
    );
    // cloud-init's NoCloud datasource needs the seed on a connected CD-ROM; without it nothing of ours runs.
    if (!(await this.#seedConnected(guest))) {
      await write(`[   12.118000] cloud-init[611]: No 'cidata' seed found; datasource None\n`);
      return;
    }
    const vmx = await guest.readVmx();
    const macs = [node.nics.nat, node.nics.hostOnly].map((nic) =>
      (vmx.get(`ethernet${nic.vmxIndex}.address`) ?? '').toLowerCase(),
    );
    const networkOk = macs[0] === node.nics.nat.mac && macs[1] === node.nics.hostOnly.mac;
    if (networkOk) {
      guest.setAddresses([
        { mac: node.nics.nat.mac, ip: [`${node.nics.nat.address}/${node.nics.nat.prefix}`] },
        { mac: node.nics.hostOnly.mac, ip: [`${node.nics.hostOnly.address}/${node.nics.hostOnly.prefix}`] },
      ]);
    }

    const silent = this.#behaviour.silentAt;
    if (silent?.stage === 'boot' && applies(silent.nodes, node.name)) return;
    await sleep(this.#behaviour.firstReportMs ?? 5);
    await write(`[   14.530112] cloud-init[802]: Cloud-init v. 24.4 running 'modules:final'\n`);

    for (const stage of stagesFor(node.role)) {
      if (this.#stopped) return;
      await report(stage.name, 'start', stage.title);
      if (silent && silent.stage === stage.name && applies(silent.nodes, node.name)) return;
      // Cross-node waits: a worker's API wait and the control plane's wait for every node.
      const noNetwork = this.#behaviour.noNetwork;
      if (stage.name === 'packages' && noNetwork && applies(noNetwork.nodes, node.name)) {
        await report(stage.name, 'fail', networkFailureFor(noNetwork.cause, this.#spec));
        return;
      }
      const activity =
        this.#behaviour.activity === false
          ? []
          : stageActivity(
              stage.name,
              this.#spec,
              new Date(this.#now()).toISOString().slice(11, 19) + 'Z',
              this.#behaviour.golden ?? false,
            );
      const reporting = (async () => {
        for (const message of activity) {
          await sleep(this.#stageMs(stage.name) / (activity.length + 1));
          if (this.#stopped) return;
          await report(stage.name, 'info', message);
        }
      })();
      if (stage.name === 'wait-api') await this.#apiUp.promise;
      if (stage.name === 'nodes-ready') await Promise.all([...this.#joined.values()].map((w) => w.promise));
      await sleep(this.#stageMs(stage.name));
      await reporting;
      const fail = this.#behaviour.failAt;
      if (fail && fail.stage === stage.name && applies(fail.nodes, node.name)) {
        await report(
          stage.name,
          'fail',
          `${fail.message ?? `${stage.name} failed`}\n--- last lines of /var/log/kubestation/${stage.name}.log ---\nE: simulated failure in ${stage.name}\nexit status 1`,
        );
        return;
      }
      if (!networkOk && stage.name === 'packages') {
        await report(
          stage.name,
          'fail',
          `${formatNetworkFailure('no-route', `no default route (ens33: no address; network-config matched no adapter: MACs ${macs.join(', ')})`)} (exit code 20, log /var/log/kubestation/packages.log)`,
        );
        return;
      }
      await report(stage.name, 'ok');
      if (stage.name === 'kubeadm-init') this.#apiUp.resolve();
      if (stage.name === 'kubeadm-join') this.#joined.get(node.name)?.resolve();
    }
    if (this.#stopped) return;
    this.#installed.add(guest.id);
    await this.#onNodeComplete?.(node);
    await report(
      FINAL_STAGE,
      'done',
      node.role === 'control-plane' ? `all ${this.#spec.nodes.length} nodes Ready` : 'joined',
    );
  }

  async #reboot(guest: SimulatedGuest, node: NodeSpec): Promise<void> {
    this.rebooted.push(node.name);
    guest.setAddresses([
      { mac: node.nics.nat.mac, ip: [`${node.nics.nat.address}/${node.nics.nat.prefix}`] },
      { mac: node.nics.hostOnly.mac, ip: [`${node.nics.hostOnly.address}/${node.nics.hostOnly.prefix}`] },
    ]);
    if (this.#stopped) return;
    await guest.writeSerial(
      `[    0.000000] Linux version 6.8.0-generic (buildd@lcy02-amd64) #1 SMP\n[   11.902114] cloud-init[598]: instance already initialised; first-boot modules skipped\n`,
    );
  }

  async #seedConnected(guest: SimulatedGuest): Promise<boolean> {
    const vmx = await guest.readVmx();
    for (const [key, value] of vmx.entries()) {
      const m = /^((?:sata|ide|scsi)\d+:\d+)\.deviceType$/i.exec(key);
      if (!m || value.toLowerCase() !== 'cdrom-image') continue;
      const device = m[1]!;
      if ((vmx.get(`${device}.present`) ?? '').toUpperCase() !== 'TRUE') continue;
      if ((vmx.get(`${device}.startConnected`) ?? 'TRUE').toUpperCase() === 'FALSE') continue;
      const file = vmx.get(`${device}.fileName`);
      if (file && existsSync(guest.resolveVmxPath(file))) return true;
    }
    return false;
  }
}
