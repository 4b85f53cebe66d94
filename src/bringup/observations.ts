/**
 * What this host actually did where kubestation relies on a behaviour no
 * reference settles ("unverified" in the code). Each such place records the
 * answer it saw, with the time and the operation that showed it, under
 * `assumptions` in state.json, so `doctor` shows it and a support bundle
 * carries it: the next report settles the question. docs/assumptions.md
 * describes each one (a test keeps the two lists equal).
 *
 * Only an answer that was seen is recorded: a check that did not run records
 * nothing. Per assumption the latest observation is kept, the first one
 * beside it, and a mark once an answer differed from the one before, so a
 * change of behaviour (a Workstation update) stays visible.
 */

/** The assumptions observed, by id: what each one assumes and every answer kubestation can record. */
export const ASSUMPTIONS = {
  'vmrest-params-running-vm': {
    assumes: 'vmrest takes PUT /vms/{id}/params (the seed CD-ROM startConnected FALSE) on a running VM',
    answers: ['accepted', 'refused'],
  },
  'nic-index': {
    assumes: "vmrest's NIC index N is the .vmx's ethernet<N-1>",
    answers: ['ethernet<N-1>', 'other'],
  },
  'memory-revert-power': {
    assumes: 'the power state vmrun leaves a VM in after reverting to a memory snapshot',
    answers: ['suspended', 'poweredOn', 'paused', 'poweredOff', 'mixed'],
  },
  'serial-readable-running': {
    assumes: "the VM's serial console file can be read on the host while the VM runs",
    answers: ['readable', 'unreadable'],
  },
  'seed-eject-releases-iso': {
    assumes: "the guest's eject of the seed CD lets the host delete the seed ISO while the VM runs",
    answers: ['released', 'held'],
  },
  'vdiskmanager-converts-ova-disk': {
    assumes: "vmware-vdiskmanager -r -t 0 converts the Ubuntu OVA's streamOptimized disk into a growable one",
    answers: ['converted', 'failed'],
  },
  'clone-in-default-folder': {
    assumes: "vmrest POST /vms puts a clone in Workstation's default VM folder",
    answers: ['default-folder', 'elsewhere'],
  },
  'vmrun-clone-linked': {
    assumes: 'vmrun -T ws clone <template.vmx> <node.vmx> linked -snapshot=<name> makes a linked clone',
    answers: ['linked', 'full-copy', 'failed'],
  },
} as const satisfies Record<string, { assumes: string; answers: readonly string[] }>;

export type AssumptionId = keyof typeof ASSUMPTIONS;

/** The answers kubestation records for `Id`. */
export type AssumptionAnswer<Id extends AssumptionId> = (typeof ASSUMPTIONS)[Id]['answers'][number];

export const ASSUMPTION_IDS = Object.keys(ASSUMPTIONS) as AssumptionId[];

/** An observation of `id`, its value one of the assumption's answers (a typo does not compile). */
export function observed<Id extends AssumptionId>(
  id: Id,
  value: AssumptionAnswer<Id>,
  seen: Omit<Observation, 'value'>,
): [Id, Observation] {
  return [id, { value, ...seen }];
}

export interface Observation {
  /** The answer seen, one of the values docs/assumptions.md lists for the assumption. */
  value: string;
  /** What else was seen (the folder a clone landed in, vmrest's or vmrun's message). */
  detail?: string | undefined;
  /** When it was seen (ISO 8601). */
  at: string;
  /** The operation that showed it, e.g. "vmrest PUT /vms/{id}/params". */
  command: string;
}

export interface ObservedAssumption {
  latest: Observation;
  /** The first observation, kept once there was a later one. */
  first?: Observation | undefined;
  /** Set once an answer differed from the one before it (a flip: a Workstation update, another host). */
  changed?: true | undefined;
}

/** state.json's `assumptions`. */
export type ObservedAssumptions = Partial<Record<AssumptionId, ObservedAssumption>>;

/** The record with `observation` of `id` merged in: the latest replaces, the first stays, a change is marked. */
export function mergeObservation(
  record: ObservedAssumptions | undefined,
  id: AssumptionId,
  observation: Observation,
): ObservedAssumptions {
  const before = record?.[id];
  if (!before) return { ...record, [id]: { latest: observation } };
  const changed = before.changed === true || before.latest.value !== observation.value;
  return {
    ...record,
    [id]: {
      latest: observation,
      first: before.first ?? before.latest,
      ...(changed ? { changed: true } : {}),
    },
  };
}

/** Every observation as a line: `<id>: <value> (<detail>), <at>, by <command>`, and the first one once an answer differed. */
export function describeObservations(record: ObservedAssumptions | undefined): string[] {
  return ASSUMPTION_IDS.flatMap((id) => {
    const seen = record?.[id];
    if (!seen) return [];
    const line = (o: Observation): string =>
      `${o.value}${o.detail ? ` (${o.detail})` : ''}, ${o.at}, by ${o.command}`;
    return [
      `${id}: ${line(seen.latest)}`,
      ...(seen.changed && seen.first
        ? [`${' '.repeat(id.length)}  answers differed; first seen as ${line(seen.first)}`]
        : []),
    ];
  });
}

/** The part of the state store recording needs (BuildStateStore). */
export interface ObservationStore {
  readonly file: string;
  update(change: (state: { assumptions?: ObservedAssumptions | undefined }) => void): Promise<void>;
}

/**
 * Records what was seen. Never fails the caller: a failed write is passed to `onFailure` as a sentence
 * (a warning), since the observation is for a report, not for the build. Where the caller writes the
 * state anyway, it merges the observation into that write instead (its failure rule applies).
 */
export async function recordObservation<Id extends AssumptionId>(
  store: ObservationStore,
  id: Id,
  observation: { value: AssumptionAnswer<Id>; detail?: string | undefined; at: Date; command: string },
  onFailure: (message: string) => void,
): Promise<void> {
  const [, entry] = observed(id, observation.value, {
    ...(observation.detail ? { detail: observation.detail } : {}),
    at: observation.at.toISOString(),
    command: observation.command,
  });
  try {
    await store.update((state) => void (state.assumptions = mergeObservation(state.assumptions, id, entry)));
  } catch (error) {
    onFailure(
      `could not record in ${store.file} what this host did for "${id}" (${entry.value}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/** What reading a running node's console file showed (follow.ts' ConsoleFollower tells it once per run). */
export type ConsoleRead = { node: string; file: string } & (
  { readable: true } | { readable: false; error: string }
);

/** Records what the first read of a running node's console showed (ConsoleFollower's onConsoleRead). */
export function recordConsoleRead(
  store: ObservationStore,
  read: ConsoleRead,
  at: Date,
  onFailure: (message: string) => void,
): Promise<void> {
  return recordObservation(
    store,
    'serial-readable-running',
    {
      value: read.readable ? 'readable' : 'unreadable',
      detail: read.readable ? read.node : `${read.node}: ${read.error}`,
      at,
      command: `read ${read.file} while the VM runs`,
    },
    onFailure,
  );
}
