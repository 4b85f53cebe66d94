// Shared by the stand-ins: appends one JSON line per call to KUBESTATION_STANDIN_LOG (when set), so a
// test can assert exactly how kubestation called the tool: which program, its argv, its working folder.
import { appendFileSync } from 'node:fs';
import path from 'node:path';

export function recordCall(tool) {
  const log = process.env.KUBESTATION_STANDIN_LOG;
  if (log)
    appendFileSync(
      log,
      `${JSON.stringify({ tool, args: process.argv.slice(2), cwd: process.cwd(), platform: process.platform, at: new Date().toISOString() })}\n`,
    );
}

/** Windows paths must stay Windows paths: a POSIX path here means kubestation leaked one. */
export function requireHostPath(file) {
  if (process.platform === 'win32' && !path.win32.isAbsolute(file)) {
    console.error(`Error: "${file}" is not an absolute Windows path`);
    process.exit(1);
  }
  return file;
}
