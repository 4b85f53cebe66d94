/**
 * The support bundle's view from inside each node: one SSH session per node
 * (the lab's own ssh_config, key only, no prompt) runs NODE_BUNDLE_SCRIPT
 * from standard input, which prints each piece under a marker line; the host
 * splits the output into bundle entries. Bounded: each piece is cut on the
 * node (tail), the whole session has a time limit and an output limit.
 */
import type { BundleEntry, BundlePart } from './bundle.js';

const MARKER = '=== kubestation-bundle ';

/**
 * Runs on the node as the lab user (passwordless sudo; `sudo -n` never
 * waits for a password). KUBESTATION_NODE_ROOT is empty on a real node; tests
 * point it at a folder standing in for the node's files.
 */
export const NODE_BUNDLE_SCRIPT = `R=\${KUBESTATION_NODE_ROOT:-}
section() { printf '\\n${MARKER}%s ===\\n' "$1"; }
section cloud-init-status.txt; sudo -n cloud-init status --long 2>&1
section cloud-init-output.log; sudo -n tail -c 1048576 "$R/var/log/cloud-init-output.log" 2>&1
for f in "$R"/var/log/kubestation/*.log; do
  [ -e "$f" ] || continue
  section "kubestation/$(basename "$f")"; sudo -n tail -c 262144 "$f" 2>&1
done
section journal.log; sudo -n journalctl -u kubelet -u containerd --no-pager -n 2000 2>&1
section crictl-ps.txt; sudo -n crictl ps -a 2>&1
section ip-addr.txt; ip addr 2>&1
section ip-route.txt; ip route 2>&1
section ufw-status.txt; sudo -n ufw status verbose 2>&1
`;

/** The node script's output → one entry per section, under `nodes/<node>/`. */
export function parseNodeSections(node: string, stdout: string): BundleEntry[] {
  const entries: BundleEntry[] = [];
  let current: BundleEntry | undefined;
  for (const line of stdout.split('\n')) {
    const m = line.startsWith(MARKER) ? /^=== kubestation-bundle (\S+) ===\r?$/.exec(line) : null;
    if (m) {
      current = { name: `nodes/${node}/${m[1]}`, text: '' };
      entries.push(current);
    } else if (current) {
      current.text += `${line}\n`;
    }
  }
  for (const entry of entries) entry.text = entry.text.replace(/\n+$/, '\n');
  return entries;
}

export interface NodeShellResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a script on a node by name; never throws for the node's own failures. */
export interface NodeShell {
  run(node: string, script: string): Promise<NodeShellResult>;
}

/** One bundle part per node: what the node says about itself, or why it could not be asked. */
export function nodeLogParts(nodes: readonly string[], shell: NodeShell | string): BundlePart[] {
  return nodes.map((node) => ({
    name: `node ${node} over SSH`,
    collect: async () => {
      if (typeof shell === 'string') throw new Error(shell);
      const result = await shell.run(node, NODE_BUNDLE_SCRIPT);
      const entries = parseNodeSections(node, result.stdout);
      if (entries.length === 0) {
        const said = result.stderr.trim().split(/\r?\n/).slice(-2).join(' / ');
        throw new Error(
          result.timedOut
            ? 'no answer over SSH within the time limit'
            : `ssh exited with code ${result.exitCode ?? 'none'}${said ? `: ${said}` : ''}`,
        );
      }
      return entries;
    },
  }));
}
