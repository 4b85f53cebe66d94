/**
 * What can go wrong talking to vmrest, as errors a caller can branch on
 * (`instanceof` or `code`) and a user can act on (`fix`). Messages name the
 * call ("PUT /vms/{id}/power") and the VM, never credentials.
 */
import { KubestationError } from '../errors.js';

/** vmrest's own error codes seen in replies (see vmrest-api.yaml). */
export const VmrestCode = {
  invalidParameter: 100,
  notYetAvailable: 106,
  busyOrPoweredOn: 107,
  redundantParameter: 121,
} as const;

export interface VmrestErrorDetails {
  /** Method and path template, e.g. "PUT /vms/{id}/power". */
  call: string;
  status?: number | undefined;
  /** `Code` from vmrest's error body. */
  vmrestCode?: number | undefined;
  /** `Message` from vmrest's error body. */
  vmrestMessage?: string | undefined;
  cause?: unknown;
}

export class VmrestError extends KubestationError {
  readonly call: string;
  readonly status: number | undefined;
  readonly vmrestCode: number | undefined;
  readonly vmrestMessage: string | undefined;

  constructor(code: string, message: string, fix: string, details: VmrestErrorDetails) {
    super(code, message, { fix, cause: details.cause });
    this.name = new.target.name;
    this.call = details.call;
    this.status = details.status;
    this.vmrestCode = details.vmrestCode;
    this.vmrestMessage = details.vmrestMessage;
  }
}

// `.\vmrest.exe`: PowerShell runs a program from the current folder only with `.\` (cmd accepts it too);
// pushd (not cd) changes the drive in cmd as well.
const startVmrestFix =
  'start vmrest: in PowerShell or a Command Prompt run `pushd "C:\\Program Files (x86)\\VMware\\VMware Workstation"` (the Workstation folder), ' +
  'then `.\\vmrest.exe` (run `.\\vmrest.exe -C` once first to set its username and password); keep that window open while kubestation runs';

/** Connection refused / reset before any reply: vmrest is not running (or died). */
export class VmrestNotRunningError extends VmrestError {
  constructor(baseUrl: string, details: VmrestErrorDetails) {
    super(
      'VMREST_NOT_RUNNING',
      `vmrest is not answering at ${baseUrl} (${details.call}: connection refused)`,
      startVmrestFix,
      details,
    );
  }
}

/** The connection broke mid-call (reset, closed without a reply). vmrest may have died or restarted. */
export class VmrestConnectionError extends VmrestError {
  constructor(baseUrl: string, reason: string, details: VmrestErrorDetails) {
    super(
      'VMREST_CONNECTION_LOST',
      `the connection to vmrest at ${baseUrl} broke during ${details.call} (${reason})`,
      `check that the vmrest window is still open; if it closed or hangs, ${startVmrestFix.replace(/^start vmrest: /, 'restart it: ')}, then run the command again (it resumes)`,
      details,
    );
  }
}

export class VmrestAuthError extends VmrestError {
  constructor(details: VmrestErrorDetails) {
    super(
      'VMREST_AUTH',
      `vmrest refused the username/password (${details.call}: 401 Unauthorized)`,
      'set VMREST_USERNAME and VMREST_PASSWORD to the credentials vmrest was configured with, or reset them with `.\\vmrest.exe -C` in the Workstation folder and restart vmrest',
      details,
    );
  }
}

export class VmrestForbiddenError extends VmrestError {
  constructor(details: VmrestErrorDetails) {
    super(
      'VMREST_FORBIDDEN',
      `vmrest refused ${details.call} (403 Permission denied${details.vmrestMessage ? `: ${details.vmrestMessage}` : ''})`,
      'host network changes (DHCP reservations) need vmrest started as Administrator: close vmrest and start `.\\vmrest.exe` in the Workstation folder from a PowerShell or Command Prompt opened as Administrator',
      details,
    );
  }
}

export class VmrestVmNotFoundError extends VmrestError {
  readonly vmId: string;
  constructor(vmId: string, vmLabel: string, details: VmrestErrorDetails) {
    super(
      'VMREST_VM_NOT_FOUND',
      `vmrest has no VM ${vmLabel} (${details.call}: 404${details.vmrestMessage ? `, ${details.vmrestMessage}` : ''})`,
      'the VM was deleted or removed from the Workstation library; run the command again so kubestation looks it up (or re-registers it) by its .vmx path',
      details,
    );
    this.vmId = vmId;
  }
}

export class VmrestPowerStateConflictError extends VmrestError {
  readonly vmId: string;
  /** The VM's power state when the refusal happened, if it could be read. */
  readonly powerState: string | undefined;
  constructor(vmId: string, vmLabel: string, powerState: string | undefined, details: VmrestErrorDetails) {
    super(
      'VMREST_VM_STATE_CONFLICT',
      `vmrest refused ${details.call} for VM ${vmLabel}: the VM is ${powerState ?? 'in a state that forbids this change'} (409${details.vmrestMessage ? `, ${details.vmrestMessage}` : ''})`,
      'this change needs the VM powered off: shut it down (or run the command with its power-off option) and try again',
      details,
    );
    this.vmId = vmId;
    this.powerState = powerState;
  }
}

export class VmrestMediaTypeError extends VmrestError {
  constructor(details: VmrestErrorDetails) {
    super(
      'VMREST_MEDIA_TYPE',
      `vmrest rejected the media type of ${details.call} (${details.status})`,
      'this is a kubestation bug: every call must send Accept and Content-Type application/vnd.vmware.vmw.rest-v1+json; please report it',
      details,
    );
  }
}

/** Code 106: the data (guest IP, Tools state) is not there yet. Poll with a deadline. */
export class VmrestNotYetAvailableError extends VmrestError {
  constructor(vmLabel: string, details: VmrestErrorDetails) {
    super(
      'VMREST_NOT_YET_AVAILABLE',
      `${details.call} for VM ${vmLabel}: not available yet (code 106${details.vmrestMessage ? `, ${details.vmrestMessage}` : ''})`,
      'VMware Tools (open-vm-tools) in the guest have not reported yet; wait for the guest to boot and poll again',
      details,
    );
  }
}

export class VmrestTimeoutError extends VmrestError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number, what: string, details: VmrestErrorDetails) {
    super(
      'VMREST_TIMEOUT',
      `${what} did not finish within ${formatMs(timeoutMs)} (${details.call})`,
      'vmrest may be hanging (close its window and start vmrest.exe again) or the host is very busy; the command can be run again and resumes',
      details,
    );
    this.timeoutMs = timeoutMs;
  }
}

/** A poll with a deadline ran out (power state, guest IP). */
export class VmrestDeadlineError extends VmrestError {
  constructor(message: string, fix: string, details: VmrestErrorDetails) {
    super('VMREST_DEADLINE', message, fix, details);
  }
}

export class VmrestTlsPinError extends VmrestError {
  constructor(baseUrl: string, expected: string, actual: string | undefined, details: VmrestErrorDetails) {
    super(
      'VMREST_TLS_PIN',
      `the certificate served by vmrest at ${baseUrl} does not match the pinned SHA-256 fingerprint (expected ${expected}, got ${actual ?? 'no certificate'})`,
      'set VMREST_CERT_SHA256 (or the client option certSha256) to the fingerprint of the certificate vmrest was started with: `openssl x509 -in cert.pem -noout -fingerprint -sha256`',
      details,
    );
  }
}

/** Any other refusal: vmrest's own code and message are kept. */
export class VmrestRequestError extends VmrestError {
  constructor(subject: string, details: VmrestErrorDetails) {
    const reply = details.vmrestMessage ? `: ${details.vmrestMessage}` : '';
    const code = details.vmrestCode !== undefined ? `, code ${details.vmrestCode}` : '';
    super(
      'VMREST_REQUEST_FAILED',
      `vmrest failed ${details.call}${subject ? ` for ${subject}` : ''} (${details.status}${code})${reply}`,
      details.status !== undefined && details.status >= 500
        ? 'vmrest or Workstation reported an internal error; look at the message above (a missing disk or ISO file is named there), fix it and run the command again'
        : 'the request was refused as invalid; the message above names the parameter',
      details,
    );
  }
}

/**
 * A clone failed in a way that leaves its outcome unknown, and checking did
 * not settle it. `folder` is where the clone lands, when the caller knows it
 * (the fix then names it); `seen` says what was observed instead of the
 * generic "did not answer clearly".
 */
export class VmrestCloneUncertainError extends VmrestError {
  readonly folder: string | undefined;

  constructor(
    name: string,
    details: VmrestErrorDetails,
    options: { folder?: string | undefined; seen?: string | undefined } = {},
  ) {
    const { folder, seen } = options;
    super(
      'VMREST_CLONE_UNCERTAIN',
      seen
        ? `cloning VM "${name}": ${seen}`
        : `cloning VM "${name}" did not answer clearly (${details.call}) and the clone is not in the VM list`,
      folder
        ? `Workstation may still be copying the clone into ${folder}: wait until the copy ends and run the command again (the finished clone is adopted); ` +
            `if no copy is running (vmrest or Workstation was closed during it), delete ${folder} and run the command again`
        : `look in Workstation's default VM folder for a folder named "${name}"; delete it if it is incomplete, then run the command again`,
      details,
    );
    this.folder = folder;
  }
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${ms} ms`;
}
