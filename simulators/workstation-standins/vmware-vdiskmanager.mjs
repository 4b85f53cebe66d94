// vmware-vdiskmanager stand-in (see README.md): the two operations kubestation uses.
//   -x <N>GB <disk.vmdk>            grow a text-descriptor disk: rewrites its extent size (no data to move)
//   -r <src.vmdk> -t 0 <dst.vmdk>   "convert": copies the source (the stand-in has no stream-optimized reader)
// Output and exit codes follow the real tool: progress lines on stdout, "Failed to ..." and exit 1 on error.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { recordCall, requireHostPath } from './record.mjs';

recordCall('vmware-vdiskmanager');
const args = process.argv.slice(2);
const GiB = 2 ** 30;

function fail(message) {
  console.error(message);
  process.exit(1);
}

if (args[0] === '-x' && args.length === 3) {
  const size = /^(\d+)GB$/.exec(args[1]);
  if (!size) fail(`Failed to expand the disk '${args[2]}': Invalid capacity "${args[1]}".`);
  const disk = requireHostPath(args[2]);
  let text;
  try {
    text = readFileSync(disk, 'latin1');
  } catch (error) {
    fail(`Failed to open the disk '${disk}' : The system cannot find the file specified (${error.code}).`);
  }
  const extent = /^RW (\d+)/m.exec(text);
  if (!extent) fail(`Failed to expand the disk '${disk}': not a descriptor disk this stand-in can grow.`);
  const sectors = (Number(size[1]) * GiB) / 512;
  if (sectors < Number(extent[1]))
    fail(`Failed to expand the disk '${disk}': The new capacity is smaller than the current one.`);
  writeFileSync(disk, text.replace(/^RW \d+/m, `RW ${sectors}`), 'latin1');
  console.log(
    '  Grow: 100% done.\nThe old geometry C/H/S of the disk is: 16383/16/63\nThe new geometry C/H/S of the disk is: 16383/16/63\nDisk expansion completed successfully.',
  );
} else if (args[0] === '-r' && args[2] === '-t' && args.length === 5) {
  copyFileSync(requireHostPath(args[1]), requireHostPath(args[4]));
  console.log('Creating disk ' + args[4] + '\n  Convert: 100% done.\nVirtual disk conversion successful.');
} else {
  fail(
    'VMware Virtual Disk Manager stand-in: usage: vmware-vdiskmanager -x <N>GB <disk> | -r <source> -t 0 <target>',
  );
}
