import { COMMAND_PREFIX } from '../command-hint.js';
/**
 * Why a node cannot download: the causes its network check (cloud-init/lib/network.sh)
 * tells apart before the first download, as carried in a `fail` line's message:
 *
 *   network <code>: <what was seen>
 *
 * e.g. `network gateway: the NAT gateway 192.168.5.2 does not answer (no reply to ping on ens33) and
 * pkgs.k8s.io does not resolve`. The runner appends ` (exit code N, log …)` and the log tail.
 * Each code names the one cause its evidence isolates and the fix on the Windows host.
 */

export const NETWORK_CAUSE_CODES = ['no-route', 'gateway', 'dns', 'repository'] as const;
export type NetworkCauseCode = (typeof NETWORK_CAUSE_CODES)[number];

/** What the fixes name: values from cluster.yaml (doctor passes the spec's). */
export interface NetworkFixContext {
  /** networks.nat.gateway, e.g. 192.168.5.2. */
  gateway: string;
  /** networks.nat.vmnet, e.g. vmnet8. */
  vmnet: string;
  /** os.dnsServers. */
  dnsServers: readonly string[];
  /** kubernetes.packageRepository. */
  packageRepository: string;
}

export interface NetworkCause {
  code: NetworkCauseCode;
  /** What is wrong, as a user reads it. */
  title: string;
  /** What to do on the Windows host (or in cluster.yaml), then how to retry. */
  fix: (context: NetworkFixContext) => string;
}

const RETRY = `then rebuild the node: ${COMMAND_PREFIX} rebuild-node <node> (or run build-vms again after destroy)`;

export const NETWORK_CAUSES: Readonly<Record<NetworkCauseCode, NetworkCause>> = {
  'no-route': {
    code: 'no-route',
    title: 'the node has no default route: its NAT network adapter has no link or no address',
    fix: (c) =>
      `in Workstation, VM → Settings → the first Network Adapter: "Connected" and "Connect at power on" ticked, ` +
      `Custom: ${c.vmnet}; Edit → Virtual Network Editor (as Administrator): ${c.vmnet} must be NAT; ${RETRY}`,
  },
  gateway: {
    code: 'gateway',
    title: 'the NAT gateway does not answer: VMware NAT is not running or the network is not NAT',
    fix: (c) =>
      `on Windows, services.msc: start "VMware NAT Service" (and "VMware DHCP Service"), startup type Automatic; ` +
      `Edit → Virtual Network Editor (as Administrator): ${c.vmnet} must be NAT with gateway ${c.gateway} (NAT Settings…); ${RETRY}`,
  },
  dns: {
    code: 'dns',
    title: 'the gateway answers but the DNS servers do not resolve names',
    fix: (c) =>
      `the DNS servers in os.dnsServers (${c.dnsServers.join(', ') || 'none'}) are not reachable from this network (often blocked on ` +
      `company networks): set os.dnsServers in cluster.yaml to servers your network allows, e.g. VMware NAT's own DNS relay ${c.gateway} ` +
      `or your router's; ${RETRY}`,
  },
  repository: {
    code: 'repository',
    title: 'names resolve but the package repository does not answer over HTTP(S)',
    fix: (c) =>
      `a proxy or firewall between this PC and the Internet blocks the repository: allow the Windows host (VMware NAT) to reach it, ` +
      `or set kubernetes.packageRepository (now ${c.packageRepository}) and packageRepositoryKeyUrl to a mirror you can reach; ${RETRY}`,
  },
};

/** The start of a fail message for a cause (what the guest's network check prints). */
export function formatNetworkFailure(code: NetworkCauseCode, detail: string): string {
  return `network ${code}: ${detail}`;
}

const FAILURE = new RegExp(`^network (${NETWORK_CAUSE_CODES.join('|')}): ([^\\n]*)`);

/**
 * The network cause a fail message names, if any; `detail` is what the guest saw,
 * without the runner's " (exit code N, log …)" (the bake's " (exit status N at …)") and the log tail.
 */
export function parseNetworkFailure(message: string): { cause: NetworkCause; detail: string } | undefined {
  const match = FAILURE.exec(message);
  if (!match) return undefined;
  const detail = match[2]!
    .replace(/ \| last log lines:.*$/, '')
    .replace(/ \((?:exit (?:code|status) \d+|timed out after \d+s)[^)]*\)$/, '');
  return { cause: NETWORK_CAUSES[match[1] as NetworkCauseCode], detail };
}
