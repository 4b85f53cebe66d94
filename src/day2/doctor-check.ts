/** One doctor finding: a verdict with what was seen and the fix (see doctor.ts for the list of checks). */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  fix?: string | undefined;
}
