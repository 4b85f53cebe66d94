/**
 * What build-vms needs from the world, as narrow interfaces: the vmrest
 * calls (a slice of VmrestClient, so the real client and the simulator both
 * drive it), the seed ISO writer, the disk grower, the cluster check, and
 * the event sink the progress display listens to.
 */
import type { VmrestClient } from '../vmrest/client.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import type { ProgressEvent } from '../progress/protocol.js';
import type { VerifyReport } from '../verify/report.js';
import type { ApplyStep } from './state.js';
import type { AddonEvent } from '../addons/apply.js';

export type BuildVmrest = Pick<
  VmrestClient,
  | 'listVms'
  | 'findVm'
  | 'cloneVm'
  | 'registerVm'
  | 'updateVm'
  | 'getPowerState'
  | 'setPowerState'
  | 'addNic'
  | 'updateNic'
  | 'listNics'
  | 'setMacToIp'
  | 'listVmnets'
  | 'setParam'
  | 'deleteVm'
>;

/**
 * What the work on a built lab needs from vmrest (observing, removing and rebuilding nodes; the day-2
 * commands): build-vms' slice plus reading guest addresses.
 */
export type Day2Vmrest = BuildVmrest & Pick<VmrestClient, 'getNicIps' | 'getIp'>;

/** A line for the user (what a day-2 command or a membership change is doing or skipping, and why). */
export type Day2Log = (message: string) => void;

/** Writes the node's cloud-init seed ISO and returns its absolute path (`<stateDir>/<node>/seed.iso`). */
export type SeedIsoWriter = (spec: ClusterSpec, node: NodeSpec) => Promise<string>;

/**
 * Where linked clones come from: a snapshot of the template, cloned by
 * Workstation's vmrun (clone-mode.ts makes the real one).
 */
export interface LinkedCloneSource {
  /** The template's .vmx and the snapshot the clones are made from (named by templateSnapshotName). */
  templateVmx: string;
  snapshot: string;
  /** Takes the template's snapshot unless it has one of that name (at most once per run). */
  ensureSnapshot(): Promise<void>;
  /** `vmrun -T ws clone <template.vmx> <cloneVmx> linked -snapshot=<snapshot> -cloneName=<name>`. */
  clone(cloneVmx: string, name: string): Promise<void>;
}

/** The clone road of a run: full (vmrest POST /vms) or linked (vmrun), with the reason the plan shows. */
export type CloneRoad =
  { mode: 'full'; reason: string } | { mode: 'linked'; reason: string; source: LinkedCloneSource };

/** Grows a virtual disk to `sizeGiB` (vmware-vdiskmanager -x); the VM is powered off. */
export type DiskGrower = (vmdkPath: string, sizeGiB: number) => Promise<void>;

/** What the build gives the cluster check: its Ctrl-C signal and a sink for progress lines. */
export interface VerifyContext {
  signal?: AbortSignal | undefined;
  log?: ((line: string) => void) | undefined;
}

/**
 * Checks the built cluster through its API server (see verify-step.ts); throws
 * a KubestationError naming what is wrong (ClusterVerifyError with the report).
 */
export type ClusterVerifier = (
  spec: ClusterSpec,
  context?: VerifyContext,
) => Promise<{ summary: string; report?: VerifyReport }>;

/** What the build gives the add-on step: its Ctrl-C signal and the sink for each add-on's progress. */
export interface AddonsContext {
  signal?: AbortSignal | undefined;
  emit: (event: AddonEvent) => void;
}

/**
 * Applies the add-ons cluster.yaml turns on and removes those it turned off (see addons-step.ts);
 * throws a KubestationError naming the add-on, what it was doing and the cause.
 */
export type AddonApplier = (spec: ClusterSpec, context: AddonsContext) => Promise<void>;

export type BuildEvent =
  /** The warnings follow as their own 'warning' events (once each in --json). */
  | { type: 'preflight'; ok: boolean; problems: string[]; warnings: number }
  | {
      type: 'plan';
      nodes: Array<{ node: string; status: string; actions: ApplyStep[] }>;
      /** How the nodes to clone are cloned, and why. */
      clone?: { mode: 'linked' | 'full'; reason: string; snapshot?: string };
      remove?: Array<{ node: string; controlPlane: boolean }>;
      prune?: boolean;
    }
  /** What the run does besides the node steps (join token, removing nodes). */
  | { type: 'note'; node?: string; message: string }
  | { type: 'step'; node: string; step: ApplyStep; phase: 'start' | 'done' | 'skipped'; detail?: string }
  /**
   * A progress line. atMs: when it happened on this PC's timeline (the guest's stamp, or the read time when the
   * guest clock is off); elapsedMs: for ok the stage's duration, else the time since the stage started;
   * totalMs: since power-on.
   */
  | {
      type: 'stage';
      node: string;
      stage: string;
      event: ProgressEvent;
      message: string;
      atMs: number;
      elapsedMs: number;
      totalMs: number;
    }
  /** A running node printed nothing since `sinceMs` (reported once per silence, long before its deadline). */
  | { type: 'quiet'; node: string; stage: string; sinceMs: number; serialLog: string }
  | { type: 'warning'; node?: string; message: string }
  /** progress: a line from verify; done/failed carry the report when the verifier made one. */
  | {
      type: 'verify';
      phase: 'start' | 'progress' | 'done' | 'failed';
      summary?: string;
      message?: string;
      report?: VerifyReport;
    }
  /** One add-on's progress: applying, waiting for X, ready, failed; removing/removed when turned off. */
  | AddonEvent
  | { type: 'finish'; files: string[]; notes: string[] }
  /** failed: node and stage of the first failure, `failures` every failed node (guest failures first). */
  | {
      type: 'result';
      status: 'ready' | 'failed' | 'interrupted' | 'dry-run';
      message?: string;
      node?: string;
      stage?: string;
      failures?: Array<{ node: string; stage: string; kind: 'failed' | 'silent' }>;
      /** --simulate only: what the simulators themselves cost, so the bench can tell it from kubestation's own. */
      simulator?: SimulatorCost;
    };

/** Time the simulated lab spent on itself: starting its simulators, and each vmrun stand-in process start. */
export interface SimulatorCost {
  labStartMs: number;
  /** One entry per vmrun call, in the order they arrived: the vmrun command and its stand-in's start-up. */
  vmrunStandInStarts: Array<{ command: string; ms: number }>;
}

export type BuildEventSink = (event: BuildEvent) => void;
