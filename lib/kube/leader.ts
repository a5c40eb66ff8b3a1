/**
 * Lease-based leader election (coordination.k8s.io/v1) with client-go's
 * leaderelection rules, kept here rather than taken from
 * @kubernetes/client-node because that one neither bounds a renewal by the
 * renew deadline nor judges expiry by observation time (the two rules below).
 *
 * - Expiry is judged by this process's monotonic clock: a Lease held by
 *   someone else counts as expired only when its record has not changed for
 *   leaseDurationSeconds since this process first observed it. The holder's
 *   renewTime is written for people and never compared with the local
 *   clock, so skewed clocks cannot make two leaders.
 * - Every request is aborted at the renew deadline, and the leader stops
 *   leading (aborts its work) once renewDeadline has passed since the start
 *   of its last successful renewal, by a timer, whether or not a request is
 *   still hanging. Because renewDeadline < leaseDuration and a standby counts
 *   the lease duration from when it saw that renewal land (after it was
 *   sent), the old leader has stopped before anyone can take the Lease.
 * - Writes carry the Lease's resourceVersion, so two candidates never both
 *   win one term; on graceful stop the Lease is emptied and a standby takes
 *   over at once.
 * - A term has a token (`termToken`: holder identity and leaseTransitions,
 *   as the Lease records them), which a leader's writes carry so that the
 *   API server itself can refuse a stale leader's write by comparing it with
 *   the Lease at admission (operator/render/policy.ts): the local clock
 *   check cannot cover a pause between the check and the socket write.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { sleep } from './backoff.ts';
import { isAlreadyExists, isConflict, isNotFound, type KubeClient } from './client.ts';
import { objectPath, resourceFor } from './resources.ts';
import type { KubeObject } from './types.ts';

/** A write refused because this process's term has run out (it may no longer lead). */
export class NotLeadingError extends Error {
  constructor(identity: string) {
    super(`${identity} no longer leads: its term ran out before this write was sent`);
    this.name = 'NotLeadingError';
  }
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationSeconds?: number;
  /** Must be shorter than the lease duration (client-go's rule; checked). */
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Time source: monotonic milliseconds, timers and the wall clock for the Lease's timestamps. */
  clock?: ElectionClock;
}

export interface ElectionClock {
  /** Monotonic milliseconds. */
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Calls `fire` after `ms` unless cancelled. */
  timer(ms: number, fire: () => void): () => void;
  wallTime(): Date;
}

export const systemClock: ElectionClock = {
  now: () => performance.now(),
  sleep,
  timer: (ms, fire) => {
    const handle = setTimeout(fire, ms);
    return () => clearTimeout(handle);
  },
  wallTime: () => new Date(),
};

export interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/** The three Lease requests the elector makes, each abortable. */
export interface LeaseStore {
  read(signal: AbortSignal): Promise<Lease | undefined>;
  create(lease: Lease, signal: AbortSignal): Promise<Lease>;
  replace(lease: Lease, signal: AbortSignal): Promise<Lease>;
}

export function kubeLeaseStore(client: KubeClient, namespace: string, name: string): LeaseStore {
  const path = objectPath(resourceFor('coordination.k8s.io/v1', 'Lease'), name, namespace);
  const collection = path.slice(0, path.lastIndexOf('/'));
  return {
    async read(signal) {
      try {
        return await client.request<Lease>('GET', path, undefined, undefined, undefined, signal);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    create: (lease, signal) =>
      client.request<Lease>('POST', collection, lease, undefined, undefined, signal),
    replace: (lease, signal) =>
      client.request<Lease>('PUT', path, lease, undefined, undefined, signal),
  };
}

const microTime = (date: Date) => date.toISOString().replace('Z', '000Z');

/**
 * The annotation carrying the leader term a write was decided in, compared
 * with the Lease by the API server's admission policy.
 */
export const LeaderTermAnnotation = 'aci.cni.dev/leader-term';

/** `holder/transitions`: one token per term of a Lease, as the admission policy spells it. */
export function termToken(lease: Lease): string | undefined {
  const holder = lease.spec?.holderIdentity;
  return holder ? `${holder}/${lease.spec?.leaseTransitions ?? 0}` : undefined;
}

/** What a candidate last saw of the Lease, and when by its own clock. */
interface Observation {
  lease: Lease;
  at: number;
}

export class LeaderElector {
  readonly identity: string;
  private readonly store: LeaseStore;
  private readonly clock: ElectionClock;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly stopController = new AbortController();
  private observed: Observation | undefined;
  /** The Lease as this candidate last wrote it, while that is the latest it knows of. */
  private written: Lease | undefined;
  /** While leading: the monotonic time at which this term ends unless renewed. */
  private leadingUntil: number | undefined;
  /** The term token of the Lease this candidate last wrote successfully (kept when a renewal fails). */
  private termOfLastWrite: string | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    client: KubeClient | LeaseStore,
    private readonly options: LeaderElectionOptions,
  ) {
    this.identity = options.identity ?? `${os.hostname()}_${randomUUID()}`;
    this.store =
      'request' in client ? kubeLeaseStore(client, options.namespace, options.name) : client;
    this.clock = options.clock ?? systemClock;
    this.leaseDurationMs = (options.leaseDurationSeconds ?? 15) * 1000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2000;
    if (this.renewDeadlineMs >= this.leaseDurationMs)
      throw new Error(
        `leader election: renewDeadlineMs (${this.renewDeadlineMs}) must be shorter than the lease duration (${this.leaseDurationMs} ms)`,
      );
    if (this.retryPeriodMs >= this.renewDeadlineMs)
      throw new Error(
        `leader election: retryPeriodMs (${this.retryPeriodMs}) must be shorter than renewDeadlineMs (${this.renewDeadlineMs})`,
      );
  }

  /** True only while the current term has not run out by this process's clock (also right after a pause). */
  isLeader(): boolean {
    return this.leadingUntil !== undefined && this.clock.now() < this.leadingUntil;
  }

  /**
   * The token of the term this process leads in (the Lease as it last wrote
   * it), or undefined when it does not lead.
   */
  term(): string | undefined {
    return this.isLeader() ? this.termOfLastWrite : undefined;
  }

  start(): this {
    this.loop ??= this.run();
    return this;
  }

  /** Stops campaigning; a leader releases the Lease so a standby takes over immediately. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const stop = this.stopController.signal;
    while (!stop.aborted) {
      let termStart: number | undefined;
      while (!stop.aborted) {
        // A campaign's request may take longer than a renewal may (client-go bounds only renewals);
        // the term still counts from when the winning write was sent, so a slow win is a short term.
        termStart = await this.attempt(stop, this.leaseDurationMs);
        if (termStart !== undefined) break;
        await this.clock.sleep(this.retryPeriodMs, stop);
      }
      if (stop.aborted || termStart === undefined) break;
      await this.lead(termStart);
    }
  }

  /** One term: leader work runs until a renewal misses the deadline or the elector stops. */
  private async lead(termStart: number): Promise<void> {
    const stop = this.stopController.signal;
    const work = new AbortController();
    const ended = new AbortController();
    let cancelTimer = () => {};
    const extend = (from: number) => {
      cancelTimer();
      this.leadingUntil = from + this.renewDeadlineMs;
      const remaining = this.leadingUntil - this.clock.now();
      // The timer, not the renew loop, ends the term: a renewal hanging on the network cannot delay it.
      cancelTimer = this.clock.timer(Math.max(0, remaining), () => ended.abort());
    };
    extend(termStart);
    this.options.log?.('Acquired leadership', {
      lease: this.options.name,
      identity: this.identity,
    });
    const leaderWork = Promise.resolve()
      .then(() => this.options.onStartedLeading(work.signal))
      .catch((error: unknown) =>
        this.options.log?.('Leader work failed', { error: String(error) }),
      );
    const both = AbortSignal.any([stop, ended.signal]);
    while (!both.aborted) {
      await this.clock.sleep(this.retryPeriodMs, both);
      if (both.aborted || !this.isLeader()) break;
      const renewedAt = await this.attempt(both);
      if (renewedAt !== undefined && this.isLeader()) extend(renewedAt);
      else if (this.heldByAnother()) break;
    }
    cancelTimer();
    this.leadingUntil = undefined;
    this.written = undefined;
    this.termOfLastWrite = undefined;
    work.abort();
    await leaderWork;
    if (stop.aborted) await this.release();
    this.options.log?.('Lost leadership', { lease: this.options.name, identity: this.identity });
    this.options.onStoppedLeading?.();
  }

  /**
   * One acquire-or-renew round, its requests aborted after `boundMs` (the
   * renew deadline unless campaigning) or when `signal` aborts. Returns the
   * monotonic time the successful write was sent, or undefined.
   */
  private async attempt(
    signal: AbortSignal,
    boundMs = this.renewDeadlineMs,
  ): Promise<number | undefined> {
    const deadline = new AbortController();
    const cancel = this.clock.timer(boundMs, () => deadline.abort());
    const bounded = AbortSignal.any([signal, deadline.signal]);
    try {
      return await this.tryAcquireOrRenew(bounded);
    } catch (error) {
      if (!(isConflict(error) || isAlreadyExists(error) || isNotFound(error)))
        this.options.log?.('Failed to acquire or renew lease', {
          lease: this.options.name,
          error: bounded.aborted ? 'aborted at the renew deadline' : String(error),
        });
      // Whatever happened, read the Lease afresh next time (the observation time stays).
      this.written = undefined;
      return undefined;
    } finally {
      cancel();
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<number | undefined> {
    // Fast path, as client-go's: while leading, renew the Lease as we wrote it, without reading.
    if (this.written && this.isLeader()) {
      const sentAt = this.clock.now();
      const written = await this.store.replace(this.renewed(this.written, false), signal);
      this.observe(written, sentAt);
      this.wrote(written);
      return sentAt;
    }
    const lease = await this.store.read(signal);
    const readAt = this.clock.now();
    if (!lease) {
      const now = microTime(this.clock.wallTime());
      const sentAt = this.clock.now();
      const created = await this.store.create(
        {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.options.name, namespace: this.options.namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: this.leaseDurationMs / 1000,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        },
        signal,
      );
      this.observe(created, sentAt);
      this.wrote(created);
      return sentAt;
    }
    this.observe(lease, readAt);
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== '' && holder !== this.identity && !this.expired()) return undefined;
    const sentAt = this.clock.now();
    const written = await this.store.replace(this.renewed(lease, holder !== this.identity), signal);
    this.observe(written, sentAt);
    this.wrote(written);
    return sentAt;
  }

  private wrote(lease: Lease): void {
    this.written = lease;
    this.termOfLastWrite = termToken(lease);
  }

  /** The Lease with this candidate as holder, renewed now. */
  private renewed(lease: Lease, takingOver: boolean): Lease {
    const spec = lease.spec ?? {};
    const now = microTime(this.clock.wallTime());
    return {
      ...lease,
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: this.leaseDurationMs / 1000,
        renewTime: now,
        ...(takingOver
          ? {
              acquireTime: now,
              leaseTransitions: (spec.leaseTransitions ?? 0) + (spec.holderIdentity ? 1 : 0),
            }
          : {}),
      },
    };
  }

  /** Records the Lease; the observation time moves only when its record changed. */
  private observe(lease: Lease, at: number): void {
    const previous = this.observed?.lease;
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder && holder !== (previous?.spec?.holderIdentity ?? ''))
      this.options.onNewLeader?.(holder);
    const changed =
      !previous || JSON.stringify(previous.spec ?? {}) !== JSON.stringify(lease.spec ?? {});
    this.observed = { lease, at: changed ? at : (this.observed?.at ?? at) };
  }

  private heldByAnother(): boolean {
    const holder = this.observed?.lease.spec?.holderIdentity ?? '';
    return holder !== '' && holder !== this.identity;
  }

  private expired(): boolean {
    if (!this.observed) return false;
    const seconds = this.observed.lease.spec?.leaseDurationSeconds;
    const duration = seconds !== undefined ? seconds * 1000 : this.leaseDurationMs;
    return this.observed.at + duration <= this.clock.now();
  }

  private async release(): Promise<void> {
    const deadline = new AbortController();
    const cancel = this.clock.timer(this.renewDeadlineMs, () => deadline.abort());
    try {
      const lease = await this.store.read(deadline.signal);
      if (lease?.spec?.holderIdentity !== this.identity) return;
      await this.store.replace(
        {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: null,
            acquireTime: null,
            renewTime: null,
            leaseDurationSeconds: 1,
          },
        },
        deadline.signal,
      );
    } catch (error) {
      this.options.log?.('Failed to release lease', { error: String(error) });
    } finally {
      cancel();
    }
  }
}
