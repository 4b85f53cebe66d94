/**
 * Which VMware Workstation this PC has: version, edition, vmrun's version,
 * and what kubestation knows about that release.
 *
 * Where each fact comes from (detect, show and warn; never refuse: version
 * detection is fragile, and a wrong refusal would stop a working lab):
 * - Windows: the ProductVersion value under
 *   HKLM\SOFTWARE\WOW6432Node\VMware, Inc.\VMware Workstation (or the same key
 *   without WOW6432Node), read with System32's reg.exe — the key Packer's
 *   VMware plugin reads;
 * - Linux: `vmware -v` ("VMware Workstation 17.6.3 build-24583834");
 * - vmrun: its usage text, printed when it gets no arguments, starts with
 *   "vmrun version 1.17.0 build-...".
 * - The edition from the files, not from a license: since Workstation Pro
 *   became free no license file exists, which other tools took for Player.
 *   vmware.exe (the Workstation UI) is Pro; vmplayer.exe alone is Player.
 *
 * Parsing and assessment are pure; the probe (files, processes) is the edge.
 */
import path from 'node:path';

export interface WorkstationProbe {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  /** The install folder, when found. */
  installFolder: string | undefined;
  exists(file: string): boolean;
  /** Runs a program without a shell; never throws (a program that could not start gives exitCode undefined). */
  run(file: string, args: string[]): Promise<{ exitCode: number | undefined; stdout: string }>;
}

export interface WorkstationIdentity {
  /** e.g. "17.6.3" or "25.0.0"; undefined when it could not be read. */
  version: string | undefined;
  /** Where the version was read. */
  versionSource: string;
  edition: 'Workstation Pro' | 'Workstation Player' | 'unknown';
  editionSource: string;
  /** e.g. "1.17.0"; undefined when vmrun is missing or did not say. */
  vmrunVersion: string | undefined;
}

export interface WorkstationRelease {
  /** How users know it: "17.x", "25H2", "26H1". */
  name: string;
  /** Matches the version this release reports. */
  matches: (version: string) => boolean;
  /** What kubestation relies on from it, and how sure that is. */
  needs: string;
  /** documented: settled by that release's own vmrest OpenAPI document; assumed: from release notes only. */
  basis: 'documented' | 'assumed';
}

/**
 * The releases kubestation's assumptions were taken from. 17.x is the one
 * whose vmrest (1.3.1) OpenAPI document this project is written against;
 * the calendar-named releases that followed it are expected to keep vmrest
 * 1.3.x and vmrun's clone and snapshot commands, but that is from their
 * release notes, not from a document or a host (unverified). The version numbers they report
 * (25.x, 26.x) are likewise assumed from their names.
 */
export const KNOWN_WORKSTATION_RELEASES: readonly WorkstationRelease[] = [
  {
    name: '17.x',
    matches: (v) => /^17\./.test(v),
    needs: 'vmrest 1.3.x endpoints (the vmrest 1.3.1 OpenAPI document), vmrun clone/snapshot',
    basis: 'documented',
  },
  {
    name: '25H2',
    matches: (v) => /^25\./.test(v),
    needs: 'vmrest 1.3.x endpoints and vmrun clone/snapshot, assumed unchanged since 17.x (unverified)',
    basis: 'assumed',
  },
  {
    name: '26H1',
    matches: (v) => /^26\./.test(v),
    needs: 'vmrest 1.3.x endpoints and vmrun clone/snapshot, assumed unchanged since 17.x (unverified)',
    basis: 'assumed',
  },
];

export const WORKSTATION_REGISTRY_KEYS = [
  'HKLM\\SOFTWARE\\WOW6432Node\\VMware, Inc.\\VMware Workstation',
  'HKLM\\SOFTWARE\\VMware, Inc.\\VMware Workstation',
] as const;

/** `reg query <key> /v ProductVersion` output → the value, e.g. "17.6.3". */
export function parseRegQueryValue(stdout: string, value: string): string | undefined {
  const line = stdout.split(/\r?\n/).find((l) => l.trim().startsWith(`${value} `));
  const m = line && /^\s*\S+\s+REG_\w+\s+(.*?)\s*$/.exec(line);
  return m ? m[1] : undefined;
}

/** "VMware Workstation 17.6.3 build-24583834" → "17.6.3". */
export function parseVmwareVersion(stdout: string): string | undefined {
  return /VMware Workstation\s+(\d+(?:\.\d+)+)/i.exec(stdout)?.[1];
}

/** "vmrun version 1.17.0 build-24583834" → "1.17.0". */
export function parseVmrunVersion(stdout: string): string | undefined {
  return /vmrun version\s+(\d+(?:\.\d+)+)/i.exec(stdout)?.[1];
}

export async function detectWorkstationIdentity(probe: WorkstationProbe): Promise<WorkstationIdentity> {
  const win = probe.platform === 'win32';
  const join = win ? path.win32.join : path.posix.join;
  const folder = probe.installFolder;

  let version: string | undefined;
  let versionSource: string;
  if (win) {
    const reg = join(probe.env.SystemRoot || probe.env.SYSTEMROOT || 'C:\\Windows', 'System32', 'reg.exe');
    versionSource = `ProductVersion not found under ${WORKSTATION_REGISTRY_KEYS.join(' or ')}`;
    for (const key of WORKSTATION_REGISTRY_KEYS) {
      const result = await probe.run(reg, ['query', key, '/v', 'ProductVersion']);
      const found = result.exitCode === 0 ? parseRegQueryValue(result.stdout, 'ProductVersion') : undefined;
      if (found) {
        version = found;
        versionSource = `${key}\\ProductVersion`;
        break;
      }
    }
  } else if (folder && probe.exists(join(folder, 'vmware'))) {
    const result = await probe.run(join(folder, 'vmware'), ['-v']);
    version = parseVmwareVersion(result.stdout);
    versionSource = version ? '`vmware -v`' : '`vmware -v` printed no version';
  } else {
    versionSource = 'no vmware program in the install folder';
  }

  let edition: WorkstationIdentity['edition'] = 'unknown';
  let editionSource = 'the install folder was not found';
  if (folder) {
    const ui = join(folder, win ? 'vmware.exe' : 'vmware');
    const player = join(folder, win ? 'vmplayer.exe' : 'vmplayer');
    if (probe.exists(ui)) [edition, editionSource] = ['Workstation Pro', `${ui} exists`];
    else if (probe.exists(player))
      [edition, editionSource] = ['Workstation Player', `only ${player} exists, no Workstation UI`];
    else editionSource = `neither ${ui} nor ${player} exists`;
  }

  let vmrunVersion: string | undefined;
  const vmrun = folder && join(folder, win ? 'vmrun.exe' : 'vmrun');
  if (vmrun && probe.exists(vmrun)) {
    // vmrun prints its usage (with its version) and exits non-zero when given nothing to do.
    vmrunVersion = parseVmrunVersion((await probe.run(vmrun, [])).stdout);
  }
  return { version, versionSource, edition, editionSource, vmrunVersion };
}

export type WorkstationVerdict =
  | { status: 'ok'; release: WorkstationRelease }
  | { status: 'warn'; why: string; release?: WorkstationRelease | undefined };

/** What kubestation knows about this Workstation: a known release, one taken on trust, or unknown. */
export function assessWorkstation(identity: WorkstationIdentity): WorkstationVerdict {
  if (identity.edition === 'Workstation Player')
    return {
      status: 'warn',
      why: 'Workstation Player has no vmrest; kubestation needs Workstation Pro (free for all use since November 2024)',
    };
  if (!identity.version)
    return { status: 'warn', why: `the Workstation version could not be read (${identity.versionSource})` };
  const release = KNOWN_WORKSTATION_RELEASES.find((r) => r.matches(identity.version!));
  if (!release)
    return {
      status: 'warn',
      why: `Workstation ${identity.version} is not a release kubestation knows (${KNOWN_WORKSTATION_RELEASES.map((r) => r.name).join(', ')}); it may work, and a support bundle from it would settle it`,
    };
  if (release.basis === 'assumed')
    return {
      status: 'warn',
      release,
      why: `Workstation ${release.name}: ${release.needs}`,
    };
  return { status: 'ok', release };
}
