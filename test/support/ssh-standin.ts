/**
 * A stand-in for the OpenSSH client, for the support bundle's node logs:
 * `<dir>/ssh` takes ssh's arguments (-F, -o ..., host, remote command),
 * never opens a connection, and runs the script it gets on standard input in
 * a real `sh -s` on this machine, with the "node" being a folder:
 * KUBESTATION_NODE_ROOT=<dir>/nodes/<host> (its var/log files) and
 * <dir>/nodes/<host>/bin first on the PATH (sudo, cloud-init, journalctl,
 * crictl, ufw, ip answering from <root>/out/<program>). A host without a
 * folder does not answer, as ssh reports a connect time-out. Every call's
 * arguments are appended to <dir>/calls.jsonl.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface StandInNode {
  /** Files under the node's root, e.g. { 'var/log/cloud-init-output.log': '...' }. */
  files: Record<string, string>;
  /** What each program prints, e.g. { journalctl: '...' }. */
  outputs: Record<string, string>;
}

const program = (execPath: string) => `#!${execPath}
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const args = process.argv.slice(2);
fs.appendFileSync(path.join(__dirname, 'calls.jsonl'), JSON.stringify(args) + '\\n');
let i = 0;
while (i < args.length && args[i].startsWith('-')) i += args[i] === '-F' || args[i] === '-o' ? 2 : 1;
const host = args[i];
const root = path.join(__dirname, 'nodes', host);
if (!fs.existsSync(root)) {
  process.stderr.write('ssh: connect to host ' + host + ' port 22: Connection timed out\\n');
  process.exit(255);
}
const r = spawnSync(args[i + 1], args.slice(i + 2), {
  input: fs.readFileSync(0),
  env: { ...process.env, KUBESTATION_NODE_ROOT: root, PATH: path.join(root, 'bin') + ':' + process.env.PATH },
  stdio: ['pipe', 'inherit', 'inherit'],
});
process.exit(r.status === null ? 255 : r.status);
`;

export async function writeSshStandIn(dir: string, nodes: Record<string, StandInNode>): Promise<string> {
  await mkdir(dir, { recursive: true });
  const ssh = path.join(dir, 'ssh');
  await writeFile(ssh, program(process.execPath));
  await chmod(ssh, 0o755);
  for (const [host, node] of Object.entries(nodes)) {
    const root = path.join(dir, 'nodes', host);
    await mkdir(path.join(root, 'bin'), { recursive: true });
    await mkdir(path.join(root, 'out'), { recursive: true });
    for (const [file, text] of Object.entries(node.files)) {
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await writeFile(path.join(root, file), text);
    }
    const bins: Record<string, string> = { sudo: '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n' };
    for (const name of ['cloud-init', 'journalctl', 'crictl', 'ufw', 'ip']) {
      await writeFile(path.join(root, 'out', name), node.outputs[name] ?? '');
      bins[name] = `#!/bin/sh\ncat "$KUBESTATION_NODE_ROOT/out/${name}"\n`;
    }
    for (const [name, text] of Object.entries(bins)) {
      await writeFile(path.join(root, 'bin', name), text);
      await chmod(path.join(root, 'bin', name), 0o755);
    }
  }
  return ssh;
}
