/**
 * doctor: checks for the causes a lab is known to break from, each with a
 * verdict (ok / warn / fail) and the fix. Read-only.
 *
 *   vmrest            running, credentials accepted
 *   vmnet:<name>      the host networks match cluster.yaml (build-vms' preflight check)
 *   dhcp:<node>       static addresses outside the DHCP pool of a DHCP-enabled vmnet
 *   template          built, registered, bake not interrupted, powered off (clones and rebuilds need it)
 *   vm:<node>         the node's VM exists, is ours, runs
 *   lab               every VM off (stopped) or some off: `kubestation start`; the API check then only warns
 *   seed-iso:<node>   the seed ISO and user-data (CA key, join token) gone after the node's bootstrap
 *   seed-label:<node> before bootstrap: the seed ISO there, labelled cidata, connected by the .vmx
 *   first-boot:<node> the node's serial console: a stage failed (with its cause) or stuck past its limit
 *   join-token        the recorded join token still valid (API Secret, else estimated)
 *   kubernetes-api    the API server answers the admin kubeconfig
 *   node:<node>       registered, Ready, InternalIP on the host-only network (verify's node checks)
 *   cni:<node>        the CNI pod on the node runs (verify's system-pod checks)
 *   clock:<node>      node clock vs this PC, from the times the kubelet itself writes
 *                     (node Lease renewTime, else the Ready heartbeat)
 */
import { existsSync } from 'node:fs';
import { workstationCheck } from './workstation-check.js';
import type { WorkstationIdentity } from '../workstation/identity.js';
import { labNeverBuilt } from '../bringup/lab-state.js';
import { commandHint } from '../command-hint.js';
import { findNodeVm } from '../bringup/apply.js';
import { observeSeed } from '../bringup/seed-retirement.js';
import { readBuildState, type BuildState } from '../bringup/state.js';
import { ASSUMPTION_IDS, describeObservations, type ObservedAssumptions } from '../bringup/observations.js';
import { checkVmnets } from '../bringup/preflight.js';
import { describeError, KubestationError } from '../errors.js';
import { findCondition, KubeApiError, type KubeClient, type KubeObject, type Node } from '../kube/index.js';
import { inRange, parseSubnet } from '../config/ipv4.js';
import { defaultHostOnlyDhcpRange } from '../config/defaults.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import { parentDiskOfVm } from '../template/linked-clones.js';
import { requireReadyTemplate } from '../template/ready.js';
import { SEED_CDROM } from '../template/vmx.js';
import { checkNodes, checkSystemPods, cniPods } from '../verify/cluster-checks.js';
import { Findings } from '../verify/findings.js';
import type { PowerState, VmSummary, Vmnet } from '../vmrest/client.js';
import { VmrestError } from '../vmrest/errors.js';
import { isOwnedBy, observeVm, probeApi, type KubeAccess, type ObservedVm } from '../bringup/observe.js';
import type { Day2Vmrest } from '../bringup/ports.js';
import type { CheckStatus, DoctorCheck } from './doctor-check.js';
import { firstBootCheck, seedLabelCheck } from './first-boot-checks.js';
import { describeLabPower, summarizeLabPower, type LabPowerSummary } from './lab-power.js';
import { readStoredToken } from '../bringup/join-token.js';
import { COMMAND_PREFIX } from '../command-hint.js';

export type { CheckStatus, DoctorCheck } from './doctor-check.js';

export interface DoctorReport {
  cluster: string;
  ok: boolean;
  checks: DoctorCheck[];
  /** What this host did where kubestation relies on an unverified behaviour: state.json's record, as it is. */
  assumptions: ObservedAssumptions;
}

export interface DoctorDeps {
  /** Undefined when no client could be made (e.g. credentials missing): `vmrestUnavailable` says why. */
  vmrest: Day2Vmrest | undefined;
  vmrestUnavailable?: KubestationError | undefined;
  kube: KubeAccess;
  installFolder?: string | undefined;
  /** Which Workstation this PC has (src/workstation/identity.ts); the row is left out when absent. */
  workstation?: (() => Promise<WorkstationIdentity>) | undefined;
  now?: () => Date;
  /** Largest node clock lead over this PC that passes; default 15 s. */
  clockToleranceSeconds?: number;
}

const workstationDhcpFix = (vmnet: string) =>
  `or, in Workstation's Edit > Virtual Network Editor, select ${vmnet.replace(/^vmnet/i, 'VMnet')} > DHCP Settings and move the range's start above the nodes' addresses (or turn DHCP off there)`;

/** VMware's default DHCP pool of a subnet: the upper half, up to the address before broadcast (.128–.254 on a /24). */
export function vmwareDefaultDhcpPool(network: string, prefix: number): { start: string; end: string } {
  return defaultHostOnlyDhcpRange(parseSubnet(`${network}/${prefix}`));
}

function dhcpChecks(spec: ClusterSpec, vmnets: Vmnet[]): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  for (const node of spec.nodes) {
    const problems: Array<{ status: CheckStatus; text: string; fix: string }> = [];
    for (const nic of [node.nics.nat, node.nics.hostOnly]) {
      const vmnet = vmnets.find((v) => v.name.toLowerCase() === nic.vmnet.toLowerCase());
      if (!vmnet || vmnet.dhcp !== 'true') continue;
      const net = nic.network === 'nat' ? spec.networks.nat : spec.networks.hostOnly;
      const field = `nodes[${node.name}] ${nic.network === 'nat' ? 'NAT' : 'host-only'} address`;
      if (inRange(nic.address, net.dhcpRange.start, net.dhcpRange.end)) {
        problems.push({
          status: 'fail',
          text: `${nic.address} on ${nic.vmnet} is inside the DHCP range ${net.dhcpRange.start}–${net.dhcpRange.end} of cluster.yaml: VMware can hand it to another VM`,
          fix: `give ${field} an address outside ${net.dhcpRange.start}–${net.dhcpRange.end} in cluster.yaml and rebuild the node`,
        });
        continue;
      }
      const pool = vmwareDefaultDhcpPool(net.subnet.network, net.subnet.prefix);
      if (inRange(nic.address, pool.start, pool.end)) {
        const declared = ` (cluster.yaml declares ${net.dhcpRange.start}–${net.dhcpRange.end}; vmrest cannot read the real range)`;
        problems.push({
          status: 'warn',
          text: `${nic.address} on ${nic.vmnet} is inside VMware's default DHCP pool ${pool.start}–${pool.end}${declared}; DHCP is on there, so another VM may get the same address`,
          fix: `give ${field} an address below ${pool.start} in cluster.yaml and rebuild the node, ${workstationDhcpFix(nic.vmnet)}`,
        });
      }
    }
    const worst: CheckStatus = problems.some((p) => p.status === 'fail')
      ? 'fail'
      : problems.length
        ? 'warn'
        : 'ok';
    checks.push({
      id: `dhcp:${node.name}`,
      title: `${node.name}: static addresses outside DHCP`,
      status: worst,
      detail: problems.length
        ? problems.map((p) => p.text).join('; ')
        : `${node.nics.nat.address} and ${node.nics.hostOnly.address} are outside the DHCP pools`,
      fix: problems.map((p) => p.fix).join('; ') || undefined,
    });
  }
  return checks;
}

/** The node finished its first boot (its final line was read, or build-vms recorded the cluster Ready). */
function bootstrapped(state: BuildState | undefined, node: string): boolean {
  return state?.nodes[node]?.completedAt !== undefined;
}

/** A linked clone reads its template's disk: without it the VM cannot power on. Undefined for a full clone. */
async function parentDiskCheck(node: string, vmxPath: string): Promise<DoctorCheck | undefined> {
  const parent = await parentDiskOfVm(vmxPath);
  if (!parent) return undefined;
  const id = `parent-disk:${node}`;
  const title = `${node}: the template disk its linked clone reads exists`;
  if (existsSync(parent)) return { id, title, status: 'ok', detail: parent };
  return {
    id,
    title,
    status: 'fail',
    detail: `${parent} is gone: ${node} is a linked clone whose disk reads it, so Workstation cannot power it on ("Cannot open the disk ... or one of the snapshot disks it depends on")`,
    fix: `put the template's disk back at ${parent} if you moved it; otherwise the node has to be made anew: \`${commandHint('build-template')}\`, then \`${commandHint(`rebuild-node ${node}`)}\` (the control plane: \`${commandHint('destroy')}\`, then \`${commandHint('up')}\`)`,
  };
}

async function seedIsoCheck(
  spec: ClusterSpec,
  node: NodeSpec,
  state: BuildState | undefined,
  vm: ObservedVm | undefined,
): Promise<DoctorCheck> {
  const id = `seed-iso:${node.name}`;
  const title = `${node.name}: seed ISO and user-data removed after bootstrap`;
  const seed = await observeSeed(spec, node, state, vm && isOwnedBy(vm, node) ? vm.vmxPath : undefined);
  const rerun = `run \`${COMMAND_PREFIX} build-vms\` again: for a finished node it only deletes the seed copies and, while the VM is powered off, detaches the CD-ROM`;
  switch (seed.kind) {
    case 'none':
    case 'in-use':
      return {
        id,
        title,
        status: 'ok',
        detail: 'first boot not finished (or not recorded): the seed is still needed',
      };
    case 'secrets-on-host':
      return {
        id,
        title,
        status: 'fail',
        detail: `${seed.files.join(' and ')} still exist${seed.files.length === 1 ? 's' : ''}; ${node.role === 'control-plane' ? 'they hold the cluster CA key and the join token' : 'they hold the join token'}`,
        fix: `${rerun} (or delete them yourself: rebuild-node and seed-isos write them again from pki/)`,
      };
    case 'referenced':
      return vm?.power === 'poweredOff'
        ? {
            id,
            title,
            status: 'warn',
            detail: `the VM's CD-ROM (${SEED_CDROM}) still points at the deleted seed ISO; Workstation complains about the missing file at power-on`,
            fix: rerun,
          }
        : {
            id,
            title,
            status: 'ok',
            detail:
              'deleted on this PC; the .vmx refers to it until the VM is next off, when kubestation detaches it',
          };
    case 'detached':
      return { id, title, status: 'ok', detail: 'deleted on this PC, CD-ROM detached' };
  }
}

function decodeSecretField(
  secret: KubeObject & { data?: Record<string, string> },
  key: string,
): string | undefined {
  const value = secret.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

async function tokenCheck(
  spec: ClusterSpec,
  state: BuildState | undefined,
  client: KubeClient | undefined,
  now: Date,
): Promise<DoctorCheck> {
  const id = 'join-token';
  const title = 'join token valid';
  const stored = await readStoredToken(spec, now);
  if (!stored)
    return {
      id,
      title,
      status: 'warn',
      detail: 'no readable join token in the state folder',
      fix: 'rebuild-node registers and records a fresh token when a worker is rebuilt (with the API server reachable)',
    };
  const pendingJoins = spec.workers.filter((w) => !bootstrapped(state, w.name)).map((w) => w.name);
  let expiredAt: string | undefined;
  let detail: string;
  if (client) {
    const secret = await client.getSecret('kube-system', `bootstrap-token-${stored.token.id}`);
    const expiration = secret ? decodeSecretField(secret, 'expiration') : undefined;
    if (!secret) {
      expiredAt = 'unknown (the API server no longer has it: expired tokens are deleted)';
      detail = `the recorded token ${stored.token.id}.… is not registered with the API server (kube-system/bootstrap-token-${stored.token.id} missing)`;
    } else if (expiration && Date.parse(expiration) <= now.getTime()) {
      expiredAt = expiration;
      detail = `the recorded token ${stored.token.id}.… expired on ${expiration}`;
    } else {
      detail = `token ${stored.token.id}.… registered${expiration ? `, valid until ${expiration}` : ', never expires'}`;
    }
  } else if (stored.expired) {
    expiredAt = stored.expiresAt!.toISOString();
    detail = `the recorded token ${stored.token.id}.… expired (at the latest ${expiredAt}: ${spec.kubernetes.bootstrapTokenTtl} after it was issued; API server not asked)`;
  } else {
    detail = `token ${stored.token.id}.… valid until at least ${stored.expiresAt?.toISOString() ?? 'forever'} (estimated; API server not asked)`;
  }
  if (expiredAt === undefined) return { id, title, status: 'ok', detail };
  const rebuildFix = `\`${COMMAND_PREFIX} rebuild-node <worker>\` registers a fresh token through the API automatically; kubernetes.bootstrapTokenTtl in cluster.yaml sets the lifetime of new ones`;
  return pendingJoins.length > 0
    ? {
        id,
        title,
        status: 'fail',
        detail: `${detail}; ${pendingJoins.join(', ')} ha${pendingJoins.length === 1 ? 's' : 've'} not joined yet and cannot with it`,
        fix: `rebuild ${pendingJoins.map((n) => `\`${COMMAND_PREFIX} rebuild-node ${n}\``).join(', ')}: ${rebuildFix}`,
      }
    : {
        id,
        title,
        status: 'warn',
        detail: `${detail}; every node has joined, so only future joins need a new one`,
        fix: rebuildFix,
      };
}

interface NodeTimestamp {
  node: string;
  at: number;
  source: 'lease' | 'heartbeat';
}

/** The kubelet's own most recent write time per node: Lease renewTime, else the Ready heartbeat. */
async function nodeTimestamps(client: KubeClient, nodes: Node[]): Promise<NodeTimestamp[]> {
  let leases: Array<KubeObject & { spec?: { renewTime?: string } }> = [];
  try {
    leases = (
      await client.request<{ items: typeof leases }>(
        'GET',
        '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
      )
    ).items;
  } catch (error) {
    if (!(error instanceof KubeApiError)) throw error; // no Lease API: heartbeats only
  }
  const out: NodeTimestamp[] = [];
  for (const node of nodes) {
    const name = node.metadata.name ?? '';
    const renew = leases.find((l) => l.metadata.name === name)?.spec?.renewTime;
    const heartbeat = findCondition(node.status?.conditions, 'Ready')?.lastHeartbeatTime;
    if (renew && !Number.isNaN(Date.parse(renew)))
      out.push({ node: name, at: Date.parse(renew), source: 'lease' });
    else if (heartbeat && !Number.isNaN(Date.parse(heartbeat)))
      out.push({ node: name, at: Date.parse(heartbeat), source: 'heartbeat' });
  }
  return out;
}

function clockChecks(
  spec: ClusterSpec,
  nodes: Node[],
  stamps: NodeTimestamp[],
  now: number,
  toleranceSeconds: number,
): DoctorCheck[] {
  // A kubelet renews its Lease every 10 s and re-posts an unchanged status at least every 5 min.
  const staleLimitMs = { lease: 60_000, heartbeat: 6 * 60_000 } as const;
  const ntp = spec.os.ntpServers.join(', ');
  const fix = (node: string) =>
    `on ${node} check time sync: \`timedatectl\` and \`chronyc sources\` (it must reach ${ntp}, UDP 123 through the NAT network); ` +
    "if every node shows the same offset, this PC's clock is the one off: resync Windows time (`w32tm /resync` as Administrator)";
  return spec.nodes.flatMap((expected): DoctorCheck[] => {
    const stamp = stamps.find((s) => s.node === expected.name);
    const node = nodes.find((n) => n.metadata.name === expected.name);
    const id = `clock:${expected.name}`;
    const title = `${expected.name}: clock in sync with this PC`;
    if (!stamp || !node) return [];
    const offsetS = Math.round((stamp.at - now) / 1000);
    const what = stamp.source === 'lease' ? 'Lease renewTime' : 'Ready heartbeat';
    if (offsetS > toleranceSeconds) {
      return [
        {
          id,
          title,
          status: 'fail',
          detail: `its ${what} is ${offsetS} s in this PC's future: the node's clock is ahead`,
          fix: fix(expected.name),
        },
      ];
    }
    const ready = findCondition(node.status?.conditions, 'Ready')?.status === 'True';
    if (ready && now - stamp.at > staleLimitMs[stamp.source]) {
      return [
        {
          id,
          title,
          status: stamp.source === 'lease' ? 'fail' : 'warn',
          detail: `the node is Ready but its ${what} is ${Math.round((now - stamp.at) / 1000)} s old: its clock is probably behind`,
          fix: fix(expected.name),
        },
      ];
    }
    return [
      {
        id,
        title,
        status: 'ok',
        detail: `${what} ${offsetS >= 0 ? `${offsetS} s ahead` : `${-offsetS} s old`} (tolerance ${toleranceSeconds} s ahead)`,
      },
    ];
  });
}

/** Node registration, Ready and InternalIP, and the CNI pod per node, through verify's checks. */
async function clusterChecks(spec: ClusterSpec, client: KubeClient, nodes: Node[]): Promise<DoctorCheck[]> {
  const findings = new Findings();
  const nodeCauses = checkNodes(spec, nodes, findings);
  const cni = cniPods(spec);
  const [kubeSystem, cniNamespace] = await Promise.all([
    client.listPods('kube-system'),
    client.listPods(cni.namespace),
  ]);
  checkSystemPods(spec, { kubeSystem, cniNamespace, logTails: new Map(), nodeCauses }, findings);
  const problems = new Map(findings.problems.map((p) => [p.id, p]));
  const verdict = (v: string): CheckStatus => (v === 'pass' ? 'ok' : v === 'warn' ? 'warn' : 'fail');
  const checks: DoctorCheck[] = [];
  for (const expected of spec.nodes) {
    const rows = findings.results.filter(
      (r) =>
        r.group === 'nodes' &&
        r.node === expected.name &&
        ['registered', 'ready', 'internal-ip'].includes(r.check),
    );
    const bad = rows.filter((r) => r.verdict !== 'pass');
    const detail = rows.map((r) => `${r.check}: ${r.detail}`).join('; ');
    checks.push({
      id: `node:${expected.name}`,
      title: `${expected.name}: registered, Ready, InternalIP on ${spec.networks.hostOnly.vmnet} (${expected.nics.hostOnly.address})`,
      status: bad.some((r) => r.verdict === 'fail') ? 'fail' : bad.length ? 'warn' : 'ok',
      detail,
      fix:
        bad
          .map((r) => (r.problem ? `${problems.get(r.problem)?.cause}: ${problems.get(r.problem)?.fix}` : ''))
          .filter(Boolean)
          .join('; ') || undefined,
    });
    const cniRow = findings.results.find(
      (r) => r.group === 'system-pods' && r.check === cni.name && r.node === expected.name,
    );
    if (cniRow && nodes.some((n) => n.metadata.name === expected.name)) {
      const problem = cniRow.problem ? problems.get(cniRow.problem) : undefined;
      checks.push({
        id: `cni:${expected.name}`,
        title: `${expected.name}: ${cni.name} pod running`,
        status: verdict(cniRow.verdict),
        detail: cniRow.detail,
        fix: problem ? `${problem.cause}: ${problem.fix}` : undefined,
      });
    }
  }
  return checks;
}

export async function runDoctor(spec: ClusterSpec, deps: DoctorDeps): Promise<DoctorReport> {
  const now = deps.now ?? (() => new Date());
  const checks: DoctorCheck[] = [];
  let state: BuildState | undefined;
  try {
    state = await readBuildState(spec.stateDir, spec.name);
  } catch (error) {
    checks.push({ id: 'state', title: 'state file readable', status: 'warn', detail: describeError(error) });
  }

  if (deps.workstation) checks.push(workstationCheck(await deps.workstation()));

  // vmrest and what it knows.
  let labPower: LabPowerSummary | undefined;
  let vms: VmSummary[] | undefined;
  const power = new Map<string, PowerState | undefined>();
  const vmrestTitle = 'vmrest running, credentials accepted';
  const skipped = '(host network, template, VM and seed checks skipped)';
  try {
    if (!deps.vmrest)
      throw deps.vmrestUnavailable ?? new KubestationError('VMREST_UNAVAILABLE', 'no vmrest client');
    vms = await deps.vmrest.listVms();
    checks.push({
      id: 'vmrest',
      title: vmrestTitle,
      status: 'ok',
      detail: `${vms.length} VM(s) in the library`,
    });
  } catch (error) {
    if (!(error instanceof KubestationError)) throw error;
    checks.push({
      id: 'vmrest',
      title: vmrestTitle,
      status: 'fail',
      detail: `${error.message} ${skipped}`,
      fix: error.fix,
    });
  }
  // A lab never built (src/day2/lab-state.ts) has nothing to repair: its one fix is the command that builds it.
  const neverBuilt = await labNeverBuilt(
    spec,
    vms ?? { unavailable: checks.find((c) => c.id === 'vmrest')?.detail ?? 'vmrest did not answer' },
  );
  if (neverBuilt)
    checks.push({
      id: 'lab',
      title: 'the lab is built',
      status: 'warn',
      detail: `not built yet: ${neverBuilt.reason}`,
      fix: neverBuilt.fix,
    });
  if (vms && deps.vmrest) {
    try {
      const vmnets = await deps.vmrest.listVmnets();
      const problems = checkVmnets(spec, vmnets, deps.installFolder);
      for (const net of [spec.networks.nat, spec.networks.hostOnly]) {
        const problem = problems.find((p) => p.message.startsWith(`${net.vmnet} `));
        checks.push({
          id: `vmnet:${net.vmnet}`,
          title: `${net.vmnet} is ${net.kind === 'nat' ? 'NAT' : 'host-only'} on ${net.subnet.cidr}`,
          status: problem ? 'fail' : 'ok',
          detail: problem?.message ?? 'as cluster.yaml says',
          fix: problem?.fix,
        });
      }
      checks.push(...dhcpChecks(spec, vmnets));
    } catch (error) {
      if (!(error instanceof VmrestError)) throw error;
      checks.push({
        id: 'vmnets',
        title: 'host networks readable',
        status: 'fail',
        detail: error.message,
        fix: error.fix,
      });
    }

    // The template module's own rules, as build-vms and rebuild-node apply them before cloning.
    const templateTitle = `template VM "${spec.vmware.template.name}" built, registered and powered off`;
    try {
      const template = await requireReadyTemplate(spec, deps.vmrest);
      checks.push({ id: 'template', title: templateTitle, status: 'ok', detail: template.vmxPath });
    } catch (error) {
      if (!(error instanceof KubestationError)) throw error;
      checks.push({
        id: 'template',
        title: templateTitle,
        status: 'fail',
        detail: `${error.message} Clones (build-vms, rebuild-node) need it.`,
        fix: error.fix,
      });
    }

    const observed: Array<{ node: string; power: PowerState | undefined } | undefined> = [];
    for (const node of spec.nodes) {
      const found = findNodeVm(vms, node, state?.nodes[node.name]?.vmxPath);
      const vm = found ? await observeVm(deps.vmrest, found, spec.name) : undefined;
      observed.push(vm && isOwnedBy(vm, node) ? { node: node.name, power: vm.power } : undefined);
      const title = `${node.name}: VM present and running`;
      if (!vm)
        checks.push({
          id: `vm:${node.name}`,
          title,
          status: 'warn',
          detail: neverBuilt ? "no VM in vmrest's list: no lab built yet" : "no VM in vmrest's list",
          fix: neverBuilt
            ? neverBuilt.fix
            : `\`${commandHint(`rebuild-node ${node.name}${node.role === 'control-plane' ? ' --force' : ''}`)}\` (or \`${commandHint('build-vms')}\`) creates it`,
        });
      else if (!isOwnedBy(vm, node))
        checks.push({
          id: `vm:${node.name}`,
          title,
          status: 'fail',
          detail: `${vm.vmxPath} has this node's name but is not ours (${vm.ownership.kind})`,
          fix: `rename or remove that VM in Workstation, or rename node "${node.name}" in cluster.yaml`,
        });
      else if (vm.power !== 'poweredOn')
        checks.push({
          id: `vm:${node.name}`,
          title,
          status: 'warn',
          detail: `${vm.vmxPath} is ${vm.power ?? 'in an unknown power state'}`,
          fix: `\`${COMMAND_PREFIX} start\` (powers the lab on in order, waits until every node is Ready and verifies)`,
        });
      else checks.push({ id: `vm:${node.name}`, title, status: 'ok', detail: vm.vmxPath });
      if (vm && isOwnedBy(vm, node)) {
        const parent = await parentDiskCheck(node.name, vm.vmxPath);
        if (parent) checks.push(parent);
      }
      checks.push(await seedIsoCheck(spec, node, state, vm));
      const label = await seedLabelCheck(
        spec,
        node,
        state?.nodes[node.name],
        vm && isOwnedBy(vm, node) ? vm.vmxPath : undefined,
      );
      if (label) checks.push(label);
      power.set(node.name, vm?.power);
    }
    labPower = summarizeLabPower(observed, state);
    if (labPower.state === 'stopped' || labPower.state === 'partly running') {
      checks.push({
        id: 'lab',
        title: 'the lab is running',
        status: 'warn',
        detail: `the lab is ${describeLabPower(labPower)}`,
        fix: `\`${COMMAND_PREFIX} start\``,
      });
    }
  }
  // The consoles are files on this PC: read even when vmrest does not answer.
  for (const node of spec.nodes)
    checks.push(
      await firstBootCheck(spec, node, state?.nodes[node.name], power.get(node.name), now().getTime()),
    );

  // The Kubernetes API server and what it reports.
  const api = await probeApi(deps.kube);
  try {
    // No node has joined a lab never built, and build-vms mints the token it needs.
    if (!neverBuilt)
      checks.push(await tokenCheck(spec, state, api.reachable ? api.client : undefined, now()));
    if (!api.reachable && labPower?.state === 'stopped') {
      // Not a fault: the API server is off with the lab.
      checks.push({
        id: 'kubernetes-api',
        title: 'Kubernetes API server answers',
        status: 'warn',
        detail:
          'the lab is stopped (every VM powered off), so the API server is off with it (node, CNI and clock checks skipped)',
        fix: `\`${COMMAND_PREFIX} start\``,
      });
    } else if (!api.reachable) {
      checks.push({
        id: 'kubernetes-api',
        title: 'Kubernetes API server answers',
        status: 'fail',
        detail: `${api.reason} (node, CNI and clock checks skipped)`,
        fix: api.fix,
      });
    } else {
      checks.push({
        id: 'kubernetes-api',
        title: 'Kubernetes API server answers',
        status: 'ok',
        detail: `${api.nodes.length} node(s) registered`,
      });
      checks.push(...(await clusterChecks(spec, api.client, api.nodes)));
      checks.push(
        ...clockChecks(
          spec,
          api.nodes,
          await nodeTimestamps(api.client, api.nodes),
          now().getTime(),
          deps.clockToleranceSeconds ?? 15,
        ),
      );
    }
  } finally {
    await api.client?.close();
  }
  return {
    cluster: spec.name,
    ok: !checks.some((c) => c.status === 'fail'),
    checks,
    assumptions: state?.assumptions ?? {},
  };
}

export function formatDoctorReport(report: DoctorReport): string {
  const label: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };
  const lines = [`doctor: cluster ${report.cluster}`];
  for (const c of report.checks) {
    lines.push(`  ${label[c.status]}  ${c.title}: ${c.detail}`);
    if (c.status !== 'ok' && c.fix) lines.push(`        fix: ${c.fix}`);
  }
  const count = (s: CheckStatus) => report.checks.filter((c) => c.status === s).length;
  // The tally stays the last line.
  lines.push(...formatObservedAssumptions(report.assumptions));
  lines.push(`${count('fail')} failed, ${count('warn')} warning(s), ${count('ok')} ok`);
  return `${lines.join('\n')}\n`;
}

/** doctor's closing section: what this host was seen doing where kubestation assumes (docs/assumptions.md). */
function formatObservedAssumptions(record: ObservedAssumptions): string[] {
  const seen = describeObservations(record);
  const unseen = ASSUMPTION_IDS.filter((id) => record[id] === undefined);
  return [
    'assumptions observed on this host (state.json "assumptions"; each one is described in docs/assumptions.md):',
    ...(seen.length > 0
      ? seen.map((line) => `  ${line}`)
      : ['  none yet: build-vms records them as it sees them']),
    ...(seen.length > 0 && unseen.length > 0 ? [`  not observed yet: ${unseen.join(', ')}`] : []),
  ];
}
