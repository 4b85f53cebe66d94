// vmrun stand-in (see README.md). Implemented: `vmrun [-T ws] list`, answered from the vmrest simulator
// (VMREST_URL, VMREST_USERNAME, VMREST_PASSWORD) in vmrun's own output format. Every other command is
// recorded and refused with vmrun's "Unrecognized command" error (exit 255), so a caller never mistakes
// the stand-in for a tool that did something.
import http from 'node:http';
import { recordCall } from './record.mjs';

recordCall('vmrun');
let args = process.argv.slice(2);
if (args[0] === '-T') args = args.slice(2);

function vmrest(pathName) {
  const base = new URL(process.env.VMREST_URL ?? 'http://127.0.0.1:8697/api');
  const auth = Buffer.from(
    `${process.env.VMREST_USERNAME ?? ''}:${process.env.VMREST_PASSWORD ?? ''}`,
  ).toString('base64');
  return new Promise((resolve, reject) => {
    http
      .get(
        new URL(`${base.pathname.replace(/\/$/, '')}${pathName}`, base),
        { headers: { accept: 'application/vnd.vmware.vmw.rest-v1+json', authorization: `Basic ${auth}` } },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(JSON.parse(body))
              : reject(new Error(`vmrest answered ${res.statusCode}`)),
          );
        },
      )
      .on('error', reject);
  });
}

if (args[0] === 'list' && args.length === 1) {
  try {
    const vms = await vmrest('/vms');
    const running = [];
    for (const vm of vms)
      if ((await vmrest(`/vms/${vm.id}/power`)).power_state === 'poweredOn') running.push(vm.path);
    console.log(`Total running VMs: ${running.length}`);
    for (const p of running) console.log(p);
  } catch (error) {
    console.log(`Error: ${error.message}`);
    process.exit(255);
  }
} else {
  console.log(`Error: Unrecognized command: ${args[0] ?? ''} (this vmrun stand-in implements only "list")`);
  process.exit(255);
}
