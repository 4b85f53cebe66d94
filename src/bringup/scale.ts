/**
 * Adding and removing workers by editing cluster.yaml, the parts build-vms
 * runs besides its usual build (see src/bringup/membership.ts for what is
 * added and removed):
 *
 * - A worker joining the running cluster needs a join token the control
 *   plane accepts. When the recorded one has expired (or expires before the
 *   worker could finish its first boot), a fresh one is registered through
 *   the API first, as rebuild-node does.
 * - A worker no longer in cluster.yaml is removed with --prune, one after
 *   another: cordon, drain and delete its Node object; delete its VM (only
 *   ours); remove its DHCP reservation, its state folder and its record. The
 *   record goes last, so a run that stops half-way is finished by the same
 *   command run again.
 */
import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BuildInterruptedError } from './apply.js';
import { writeSshConfig } from './finish.js';
import type { RemovedNode } from './membership.js';
import { nodePaths } from './paths.js';
import { NIC_LAYOUT } from '../config/defaults.js';
import { deriveMac } from '../config/mac.js';
import type { ClusterSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';
import { VmrestForbiddenError } from '../vmrest/errors.js';
import { ownNodeVm, removeNodeVm, retireNodeObject, type NodeVmContext } from './node-removal.js';
import { probeApi, type ApiProbe, type KubeAccess } from './observe.js';
import type { Day2Log } from './ports.js';
import { ADD_TOKEN_USE, mintTokenThroughApi, readStoredToken, tokenUnusableError } from './join-token.js';
import { COMMAND_PREFIX } from '../command-hint.js';

/**
 * A join token expiring sooner than this is replaced before a worker is added:
 * its first boot may take this long (packages and images on a slow line).
 */
export const JOIN_TOKEN_MARGIN_MS = 2 * 3600_000;

/** API access as build-vms is given it; undefined = not configured. */
async function probe(kube: KubeAccess | undefined): Promise<ApiProbe> {
  if (!kube)
    return {
      reachable: false,
      client: undefined,
      reason: 'no access to the Kubernetes API server was given',
      fix: 'internal: the caller passes the admin kubeconfig',
    };
  return probeApi(kube);
}

export interface JoinTokenContext {
  spec: ClusterSpec;
  kube: KubeAccess | undefined;
  log: Day2Log;
  warn: (message: string) => void;
  now: () => Date;
}

/**
 * Makes sure the recorded join token is one the running cluster accepts for
 * the workers about to be added; registers a fresh one through the API when
 * it expired (or expires within JOIN_TOKEN_MARGIN_MS). Changes nothing when
 * it cannot, and says why.
 */
export async function ensureJoinToken(ctx: JoinTokenContext, workers: string[]): Promise<void> {
  const { spec, log } = ctx;
  const now = ctx.now();
  const stored = await readStoredToken(spec, now);
  const expiresSoon =
    stored?.expiresAt !== undefined && stored.expiresAt.getTime() <= now.getTime() + JOIN_TOKEN_MARGIN_MS;
  if (stored && !stored.expired && !expiresSoon) {
    log(
      `the recorded join token is valid${stored.expiresAt ? ` until ${stored.expiresAt.toISOString()}` : ' (no expiry)'}; ${workers.join(', ')} join${workers.length === 1 ? 's' : ''} with it`,
    );
    return;
  }
  const api = await probe(ctx.kube);
  try {
    if (!api.reachable) {
      if (stored && !stored.expired) {
        ctx.warn(
          `the recorded join token expires at ${stored.expiresAt?.toISOString()} and the API server does not answer (${api.reason}) to register a fresh one; ${workers.join(', ')} must join before then`,
        );
        return;
      }
      throw tokenUnusableError(spec, workers.join(', '), api.reason, stored, ADD_TOKEN_USE);
    }
    const token = await mintTokenThroughApi(spec, api.client, now);
    log(
      `registered a fresh join token (Secret kube-system/bootstrap-token-${token.id}, valid ${spec.kubernetes.bootstrapTokenTtl}): ` +
        `the recorded one ${stored ? (stored.expired ? 'had expired' : 'was about to expire') : 'was missing'}`,
    );
  } finally {
    await api.client?.close();
  }
}

export interface PruneContext extends NodeVmContext {
  kube: KubeAccess | undefined;
  /** Whether the cluster was bootstrapped (its Node objects exist and must be retired first). */
  clusterRunning: boolean;
  warn: (message: string, node?: string) => void;
  /** Private key the nodes accept, for the rewritten ssh_config. */
  sshIdentityFile: string | undefined;
  signal?: AbortSignal | undefined;
  /** How long evicted pods may take to go; default 120 s. Past it the removal goes on with a warning. */
  drainTimeoutMs?: number | undefined;
  /** API poll interval (drain); default 1 s. */
  apiPollMs?: number | undefined;
}

function pruneApiError(spec: ClusterSpec, removals: RemovedNode[], reason: string): KubestationError {
  const names = removals.map((r) => `"${r.node}"`).join(', ');
  return new KubestationError(
    'PRUNE_API_UNREACHABLE',
    `cannot remove ${names}: the Kubernetes API server does not answer (${reason}), so ${removals.length === 1 ? 'its' : 'their'} pods cannot be drained nor ${removals.length === 1 ? 'its' : 'their'} Node object deleted; nothing was changed`,
    {
      fix: `make the API server reachable (power on "${spec.controlPlane.name}", check this PC's address on ${spec.networks.hostOnly.vmnet}) and run \`${COMMAND_PREFIX} build-vms --prune\` again; to delete the whole lab instead: \`${COMMAND_PREFIX} destroy\``,
    },
  );
}

/** Removes the DHCP reservation of a removed node's NAT MAC (derived, as it was, from cluster + node name). */
async function removeReservation(ctx: PruneContext, name: string): Promise<void> {
  const vmnet = ctx.spec.networks.nat.vmnet;
  const mac = deriveMac(ctx.spec.name, name, NIC_LAYOUT.nat.guestName);
  try {
    await ctx.vmrest.setMacToIp(vmnet, mac, '');
    ctx.log(`${name}: removed the DHCP reservation of ${mac} on ${vmnet}`);
  } catch (error) {
    if (!(error instanceof VmrestForbiddenError)) throw error;
    ctx.warn(
      `the DHCP reservation of ${mac} on ${vmnet} stays: removing it needs vmrest started as Administrator (harmless: only this node's MAC matches it)`,
      name,
    );
  }
}

/**
 * Removes each node in `removals` (workers only: the caller refuses a control
 * plane). Every VM is checked to be ours before the first change.
 */
export async function pruneRemovedNodes(ctx: PruneContext, removals: RemovedNode[]): Promise<void> {
  if (removals.length === 0) return;
  const refused = removals.find((r) => r.controlPlane);
  if (refused) throw new Error(`pruneRemovedNodes: ${refused.node} is the control plane`);
  for (const removed of removals) await ownNodeVm(ctx, { name: removed.node }, 'remove');

  const api = ctx.clusterRunning ? await probe(ctx.kube) : undefined;
  try {
    if (api && !api.reachable) throw pruneApiError(ctx.spec, removals, api.reason);
    for (const removed of removals) {
      if (ctx.signal?.aborted) throw new BuildInterruptedError();
      const name = removed.node;
      if (api?.reachable) {
        const registered = api.nodes.some((n) => n.metadata.name === name);
        if (registered) {
          await retireNodeObject(api.client, name, {
            drainTimeoutMs: ctx.drainTimeoutMs ?? 120_000,
            pollMs: ctx.apiPollMs ?? 1000,
            signal: ctx.signal,
            log: ctx.log,
            warn: (message, node) => ctx.warn(message, node),
          });
        } else {
          ctx.log(`${name}: not registered with the API server; nothing to drain`);
        }
      } else {
        ctx.log(`${name}: the cluster was never bootstrapped; no Node object to retire`);
      }
      await removeNodeVm(ctx, { name }, 'remove');
      const record = ctx.store.node(name);
      if (!record || record.stepsDoneAt.reservation) await removeReservation(ctx, name);
      const folder = nodePaths(ctx.spec, { name }).dir;
      await rm(folder, { recursive: true, force: true });
      ctx.log(`${name}: removed ${folder} (seed, serial log)`);
      await ctx.store.update((s) => {
        delete s.nodes[name];
      });
      ctx.log(`${name}: removed from the lab`);
    }
  } finally {
    await api?.client?.close();
  }
  // The SSH config names every node; the summary and kubeconfig are rewritten when the run finishes.
  if (existsSync(path.join(ctx.spec.stateDir, 'ssh_config')))
    await writeSshConfig(ctx.spec, ctx.sshIdentityFile);
}
