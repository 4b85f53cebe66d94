/** doctor's `workstation` row: which Workstation this is and what kubestation knows of that release. */
import type { DoctorCheck } from './doctor-check.js';
import { assessWorkstation, type WorkstationIdentity } from '../workstation/identity.js';

export function describeWorkstation(identity: WorkstationIdentity): string {
  const version = identity.version
    ? `${identity.edition} ${identity.version}`
    : `${identity.edition}, version unknown`;
  const vmrun = identity.vmrunVersion ? `vmrun ${identity.vmrunVersion}` : 'vmrun version unknown';
  return `${version} (version from ${identity.versionSource}; edition: ${identity.editionSource}), ${vmrun}`;
}

export function workstationCheck(identity: WorkstationIdentity): DoctorCheck {
  const verdict = assessWorkstation(identity);
  const title = 'VMware Workstation version and edition';
  const detail = describeWorkstation(identity);
  if (verdict.status === 'ok')
    return {
      id: 'workstation',
      title,
      status: 'ok',
      detail: `${detail}; kubestation relies on: ${verdict.release.needs}`,
    };
  return {
    id: 'workstation',
    title,
    status: 'warn',
    detail: `${detail}; ${verdict.why}`,
    fix:
      identity.edition === 'Workstation Player'
        ? 'install VMware Workstation Pro (free for personal and commercial use)'
        : 'nothing to do if the lab works; if it does not, attach `doctor --bundle` to your report so the difference can be settled',
  };
}
