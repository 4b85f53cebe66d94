/**
 * What build-vms has done, per node, in `<stateDir>/state.json`. Every
 * change is written atomically (temp file + rename), and changes from nodes
 * building in parallel are applied one after another, so a crash or Ctrl-C
 * at any moment leaves the previous or the next record, never half of one.
 *
 * The record is a hint, not the truth: every run checks it against what
 * vmrest and the .vmx files say (see plan.ts). It matters in one place:
 * while a clone is unfinished (cloneUnfinished), an unmarked VM (or a
 * half-copied folder) with a node's name is the leftover of our own clone.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { NodeRole } from '../config/model.js';
import { KubestationError } from '../errors.js';
import type { ObservedAssumptions } from './observations.js';

export const BUILD_STATE_VERSION = 1;

/** The apply steps of one node, in order (see apply.ts). */
export const APPLY_STEPS = [
  'clone',
  'hardware',
  'nics',
  'disk',
  'seed',
  'console',
  'reservation',
  'register',
  'power-on',
] as const;
export type ApplyStep = (typeof APPLY_STEPS)[number];

export interface NodeBuildState {
  /** VM name in Workstation (the clone name). */
  vmName: string;
  /** The node's role when it was built (records from before it was kept have none). */
  role?: NodeRole | undefined;
  /** Last known vmrest id (ids are not stable across vmrest restarts; the .vmx path is). */
  vmId?: string | undefined;
  vmxPath?: string | undefined;
  /** Set just before POST /vms, cleared when the clone step is done (see cloneUnfinished). */
  cloneStartedAt?: string | undefined;
  /** What the clone step did for this VM (for status, doctor and a support bundle). */
  clone?: CloneRecord | undefined;
  /** Last apply step finished (steps run in APPLY_STEPS order). */
  step?: ApplyStep | undefined;
  /** When each step last finished. */
  stepsDoneAt: Partial<Record<ApplyStep, string>>;
  /** First power-on of this VM by build-vms: the first-boot deadline counts from here. */
  poweredOnAt?: string | undefined;
  /** The node printed its final line (control plane: every node Ready; worker: joined), or the cluster was recorded Ready (readyAt). */
  completedAt?: string | undefined;
  /** The seed ISO (it holds secrets) and where its removal stands. */
  seed?:
    | {
        isoPath: string;
        fileRemoved: boolean;
        detached: boolean;
        /**
         * vmrest's answer when asked, once, to stop connecting the running VM's seed CD-ROM (see
         * seed-retirement.ts). Either way the .vmx is edited at the next power-off kubestation sees.
         * (Records from before this field carry `detachRequested`, set whatever the answer was; it is
         * ignored, so such a VM is asked once more.)
         */
        detachRequest?: 'accepted' | 'refused';
      }
    | undefined;
  /** `kubestation stop` powered this VM off (hard: after its guest did not shut down in time); cleared by `start`. */
  stopped?: { at: string; hard: boolean } | undefined;
}

export interface CloneRecord {
  mode: 'linked' | 'full';
  /** What made it: vmrun clone (linked) or vmrest POST /vms (full). */
  via: 'vmrun' | 'vmrest';
  /** Why this mode (the plan's reason). */
  reason: string;
  /** linked: the template and its snapshot the clone reads. */
  templateVmx?: string | undefined;
  snapshot?: string | undefined;
  at: string;
}

export interface BuildState {
  formatVersion: typeof BUILD_STATE_VERSION;
  cluster: string;
  nodes: Record<string, NodeBuildState>;
  /** Set when verify passed and the kubeconfig was written; every node's completedAt is set with it. */
  readyAt?: string | undefined;
  /** `kubestation stop` stopped every node (the lab is off on purpose); cleared by `start`. */
  stoppedAt?: string | undefined;
  /** The last `kubestation start` that ended with verify passing. */
  startedAt?: string | undefined;
  /** A snapshot save or restore that has not finished: the same command run again finishes it (src/day2/snapshot.ts). */
  pendingSnapshot?:
    | { operation: 'save' | 'restore'; name: string; live: boolean; startedAt: string; restartLab: boolean }
    | undefined;
  /** What this host did where kubestation relies on an unverified behaviour (observations.ts, docs/assumptions.md). */
  assumptions?: ObservedAssumptions | undefined;
  updatedAt: string;
}

export function buildStatePath(stateDir: string): string {
  return path.join(stateDir, 'state.json');
}

export function stepIndex(step: ApplyStep | undefined): number {
  return step === undefined ? -1 : APPLY_STEPS.indexOf(step);
}

/** True when `node` has finished `step` (or a later one). */
export function hasFinished(node: NodeBuildState | undefined, step: ApplyStep): boolean {
  return stepIndex(node?.step) >= stepIndex(step);
}

/**
 * True while a clone of this node was started and not recorded as done: the
 * only time an unmarked VM or a folder carrying the node's name may be ours
 * (a crash between POST /vms and writing the marker). Any other unmarked VM
 * is the user's and is never changed or adopted.
 */
export function cloneUnfinished(node: NodeBuildState | undefined): boolean {
  return node?.cloneStartedAt !== undefined && !hasFinished(node, 'clone');
}

export async function readBuildState(stateDir: string, cluster: string): Promise<BuildState> {
  const file = buildStatePath(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState(cluster);
    throw new KubestationError('STATE_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, {
      fix: `check that your user can read ${file}`,
    });
  }
  let parsed: Partial<BuildState>;
  try {
    parsed = JSON.parse(text) as Partial<BuildState>;
  } catch {
    throw new KubestationError('STATE_CORRUPT', `${file} is not valid JSON`, {
      fix: `delete ${file} and run again: kubestation finds its VMs by their ownership marker and rebuilds the record`,
    });
  }
  if (
    parsed.formatVersion !== BUILD_STATE_VERSION ||
    typeof parsed.nodes !== 'object' ||
    parsed.nodes === null
  ) {
    throw new KubestationError(
      'STATE_CORRUPT',
      `${file} has an unknown format (formatVersion ${String(parsed.formatVersion)})`,
      {
        fix: `delete ${file} and run again: kubestation finds its VMs by their ownership marker and rebuilds the record`,
      },
    );
  }
  if (parsed.cluster !== cluster) {
    throw new KubestationError(
      'STATE_OTHER_CLUSTER',
      `${file} belongs to cluster "${String(parsed.cluster)}", not "${cluster}"`,
      {
        fix: 'give each cluster its own stateDir in cluster.yaml, or delete the old state folder if that cluster is gone',
      },
    );
  }
  return parsed as BuildState;
}

function emptyState(cluster: string): BuildState {
  return { formatVersion: BUILD_STATE_VERSION, cluster, nodes: {}, updatedAt: new Date(0).toISOString() };
}

/** Atomic write: a crash leaves the old file or the new one. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * The state file of one cluster, open for a run: reads once, then every
 * update is queued behind the previous write, so parallel node builds never
 * lose each other's changes.
 */
export class BuildStateStore {
  readonly file: string;
  #state: BuildState;
  #queue: Promise<void> = Promise.resolve();
  /** The write that has not started yet, which the next changes join. */
  #nextWrite: Promise<void> | undefined;
  readonly #now: () => Date;

  private constructor(file: string, state: BuildState, now: () => Date) {
    this.file = file;
    this.#state = state;
    this.#now = now;
  }

  static async open(
    stateDir: string,
    cluster: string,
    now: () => Date = () => new Date(),
  ): Promise<BuildStateStore> {
    return new BuildStateStore(buildStatePath(stateDir), await readBuildState(stateDir, cluster), now);
  }

  /** A copy of the current record. */
  snapshot(): BuildState {
    return structuredClone(this.#state);
  }

  node(name: string): NodeBuildState | undefined {
    const node = this.#state.nodes[name];
    return node ? structuredClone(node) : undefined;
  }

  /** Applies `change` to the node's record (created with `vmName` when new) and writes the file. */
  async updateNode(
    name: string,
    change: (node: NodeBuildState) => void,
    vmName: string = name,
  ): Promise<NodeBuildState> {
    const node = (this.#state.nodes[name] ??= { vmName, stepsDoneAt: {} });
    change(node);
    await this.#save();
    return structuredClone(node);
  }

  async stepDone(name: string, step: ApplyStep, extra: Partial<NodeBuildState> = {}): Promise<void> {
    await this.updateNode(name, (node) => {
      Object.assign(node, extra);
      if (stepIndex(step) > stepIndex(node.step)) node.step = step;
      node.stepsDoneAt[step] = this.#now().toISOString();
      // The clone carries its marker now: no unmarked VM of this name is ours any more.
      if (step === 'clone') delete node.cloneStartedAt;
    });
  }

  /**
   * Records that the node printed its final line (an earlier time is kept). Called as the line is read,
   * while the run goes on: the caller keeps the promise and reports its failure.
   */
  async recordCompleted(name: string, at: Date): Promise<void> {
    try {
      await this.updateNode(name, (n) => void (n.completedAt ??= at.toISOString()));
    } catch (error) {
      throw new KubestationError(
        'STATE_WRITE_FAILED',
        `could not record in ${this.file} that ${name} finished its first boot (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        {
          fix: `check that your user can write ${this.file} and that no other program holds it, then run the same command again: it reads the console again and goes on`,
          cause: error,
        },
      );
    }
  }

  async update(change: (state: BuildState) => void): Promise<void> {
    change(this.#state);
    await this.#save();
  }

  /** Waits for queued writes. */
  async flush(): Promise<void> {
    await this.#queue;
  }

  /**
   * Every change asked for while a write runs shares the one write after it, which takes the record as it
   * is when it starts: 30 nodes' steps are a handful of writes instead of hundreds, each still atomic.
   */
  #save(): Promise<void> {
    this.#state.updatedAt = this.#now().toISOString();
    this.#nextWrite ??= this.#queue.then(() => {
      this.#nextWrite = undefined;
      return writeJsonAtomic(this.file, structuredClone(this.#state));
    });
    const write = this.#nextWrite;
    // The caller gets `write` and its failure; the queue only has to go on to the next write.
    this.#queue = write.catch(() => undefined);
    return write;
  }
}
