// Desired-state sync engine: keeps the objects this cluster owns in the APIC
// equal to the desired state the controller sets per owner key.
//
//   setDesired(key, mos) ─▶ dirty keys ─▶ planSync (diff.ts) ─▶ rate-limited writes
//        subscription events (anyone's change to an owned object) ─▶ dirty keys
//        websocket drop / refresh failure ─▶ resync: fresh actual state, plan 'all'
//
// The actual state is learnt from subscriptions, one per class in the
// desired state, filtered on the ownership annotation, plus one on our
// tagAnnotations; their initial results are the full-sync read, their events
// keep the cache current. Writes are applied to the cache on success, so a
// second pass plans nothing.
import { NotLeadingError } from '../../../lib/kube/leader.ts';
import { pino, type Logger } from 'pino';
import { backoffDelay, sleep, type BackoffOptions } from '../../../lib/kube/backoff.ts';
import { ApicConnectionError, ApicRequestError, type ApicClient } from './client.ts';
import {
  applyWrite,
  flattenActual,
  indexDesired,
  isOwned,
  ownerAnnotation,
  ownerTagKey,
  planSync,
  tagDn,
  type ActualObject,
  type DesiredIndex,
  type PlannedWrite,
} from './diff.ts';
import { isUnder, moAttrs, moClass, MoSchema, type Mo } from './mo.ts';
import {
  ApicSubscriptions,
  type SubscriptionHandle,
  type SubscriptionSpec,
} from './subscriptions.ts';

export interface ApicSyncStatus {
  readonly connected: boolean;
  readonly lastFullSync?: Date;
  readonly objectsOwned: number;
  readonly lastError?: string;
  /** Keys waiting for a retry after a failed write. */
  readonly pendingKeys: number;
  /** Desired DNs held by objects this cluster does not own. */
  readonly conflicts: readonly string[];
}

export interface ApicSyncOptions {
  readonly client: ApicClient;
  /** Ownership prefix, unique per cluster, e.g. `kube-<systemId>`. */
  readonly prefix: string;
  readonly logger?: Logger;
  /** Upper bound on write requests per second (default 50). */
  readonly writesPerSecond?: number;
  /** Writes in flight at once (default 2). */
  readonly writeConcurrency?: number;
  readonly maxObjectsPerPost?: number;
  /** See SyncConfig.adoptAnnotations. */
  readonly adoptAnnotations?: readonly string[];
  readonly retryBackoff?: BackoffOptions;
  readonly subscriptionRefreshSeconds?: number;
  readonly onStatus?: (status: ApicSyncStatus) => void;
}

/** The retry of a failed write that no owner key names: it retries as a sweep. Never an owner key (those are prefixed). */
const SweepRetryKey = '\u0000sweep';

export class ApicSync {
  private readonly client: ApicClient;
  private readonly log: Logger;
  private readonly subs: ApicSubscriptions;
  private readonly desired = new Map<string, readonly Mo[]>();
  private index: DesiredIndex | undefined;
  private readonly actual = new Map<string, ActualObject>();
  private readonly dirty = new Set<string>();
  /** Keys waiting for a retry, and when it is due. */
  private readonly retries = new Map<string, number>();
  /** Consecutive failures per key, for the backoff. */
  private readonly attempts = new Map<string, number>();
  private readonly classSubs = new Map<string, SubscriptionHandle>();
  private sweep = false;
  private fullSyncNeeded = true;
  private readonly everDesiredClasses = new Set<string>();
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private started = false;
  private stopped = false;
  private lastWriteAt = 0;
  private readonly minWriteIntervalMs: number;
  private readonly concurrency: number;
  private readonly retryBackoff: BackoffOptions;
  private st: {
    connected: boolean;
    lastFullSync?: Date;
    lastError?: string;
    conflicts: readonly string[];
  } = {
    connected: false,
    conflicts: [],
  };
  private idleWaiters: Array<() => void> = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly unknownClasses = new Set<string>();
  /** After a connection failure, no loop before this time. */
  private pausedUntil = 0;
  private connectFailures = 0;

  constructor(private readonly options: ApicSyncOptions) {
    this.client = options.client;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({
      component: 'apic-sync',
      prefix: options.prefix,
    });
    this.subs = new ApicSubscriptions(options.client, {
      logger: this.log,
      ...(options.subscriptionRefreshSeconds !== undefined
        ? { refreshTimeoutSeconds: options.subscriptionRefreshSeconds }
        : {}),
    });
    this.minWriteIntervalMs = 1000 / (options.writesPerSecond ?? 50);
    this.concurrency = options.writeConcurrency ?? 2;
    this.retryBackoff = options.retryBackoff ?? { initialMs: 500, maxMs: 60_000 };
    this.subs.on('resync', (results) => this.onResync(results));
    this.subs.on('disconnected', (reason) => {
      this.st = { ...this.st, connected: false, lastError: reason };
      this.report();
    });
  }

  /**
   * Sets (or with `undefined` clears) the desired MO trees of one owner key.
   * Roots need a `dn`; children a `dn` or an `rn`. Throws on malformed input.
   */
  setDesired(key: string, mos: readonly Mo[] | undefined): void {
    if (mos !== undefined) {
      for (const mo of mos) MoSchema.parse(mo);
      // Fail in the caller, not later in the sync loop.
      const index = indexDesired(new Map([[key, mos]]), this.options.prefix);
      for (const n of index.nodes.values())
        if (n.cls !== 'tagAnnotation' && n.cls !== 'tagInst') this.everDesiredClasses.add(n.cls);
    }
    if (mos === undefined || mos.length === 0) this.desired.delete(key);
    else this.desired.set(key, structuredClone(mos) as Mo[]);
    this.index = undefined;
    this.dirty.add(key);
    this.retries.delete(key);
    this.attempts.delete(key);
    this.kick();
  }

  /** Replaces the whole desired state; keys not named are cleared. */
  replaceDesired(all: ReadonlyMap<string, readonly Mo[]>): void {
    for (const k of [...this.desired.keys()]) if (!all.has(k)) this.setDesired(k, undefined);
    for (const [k, v] of all) this.setDesired(k, v);
  }

  /** Connects (login, websocket, subscriptions) and runs the first full sync in the background. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.fullSyncNeeded = true;
    this.kick();
  }

  /** Forces a full resync (re-read everything owned, then converge), e.g. on a controller's periodic timer. */
  resync(): void {
    this.fullSyncNeeded = true;
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.wake?.();
    await this.subs.stop();
    await this.running?.catch(() => undefined);
  }

  status(): ApicSyncStatus {
    let owned = 0;
    for (const [dn, a] of this.actual)
      if (a.cls !== 'tagAnnotation' && isOwned(dn, this.actual, this.options.prefix)) owned++;
    return {
      connected: this.st.connected,
      ...(this.st.lastFullSync !== undefined ? { lastFullSync: this.st.lastFullSync } : {}),
      objectsOwned: owned,
      ...(this.st.lastError !== undefined ? { lastError: this.st.lastError } : {}),
      pendingKeys: this.retries.size,
      conflicts: this.st.conflicts,
    };
  }

  /** Resolves once nothing is dirty, queued for retry or running; rejects after timeoutMs. */
  waitIdle(timeoutMs = 30_000): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        reject(
          new Error(`APIC sync not idle after ${timeoutMs} ms: ${JSON.stringify(this.status())}`),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.idleWaiters.push(done);
    });
  }

  private isIdle(): boolean {
    return (
      this.started &&
      this.subs.connected &&
      !this.subs.reconnecting &&
      !this.fullSyncNeeded &&
      this.dirty.size === 0 &&
      !this.sweep &&
      this.retries.size === 0 &&
      this.running === undefined
    );
  }

  private report(): void {
    this.options.onStatus?.(this.status());
  }

  private kick(): void {
    if (!this.started || this.stopped) return;
    if (Date.now() < this.pausedUntil) return; // the retry timer kicks again
    if (this.running !== undefined) {
      this.wake?.();
      return;
    }
    this.running = this.loop()
      .catch((e: unknown) =>
        this.log.error({ err: (e as Error).message }, 'APIC sync loop crashed'),
      )
      .finally(() => {
        this.running = undefined;
        if (this.hasWork() && !this.stopped) this.kick();
        else if (this.isIdle()) {
          const w = this.idleWaiters;
          this.idleWaiters = [];
          for (const f of w) f();
        }
      });
  }

  private hasWork(): boolean {
    return this.fullSyncNeeded || this.dirty.size > 0 || this.sweep;
  }

  private getIndex(): DesiredIndex {
    this.index ??= indexDesired(this.desired, this.options.prefix);
    return this.index;
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.hasWork()) {
      try {
        if (this.fullSyncNeeded) {
          await this.fullSync();
          continue;
        }
        await this.ensureSubscriptions();
        const scope: ReadonlySet<string> | 'all' = this.sweep ? 'all' : new Set(this.dirty);
        this.sweep = false;
        if (scope === 'all') this.dirty.clear();
        else for (const k of scope) this.dirty.delete(k);
        await this.applyPlan(scope);
      } catch (e) {
        this.onLoopError(e);
        // The connection is down: the reconnect logic (or a retry timer) kicks the loop again.
        return;
      }
    }
  }

  private onLoopError(e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    // A write refused because this leader's term ran out is the end of the term, not an APIC fault.
    if (e instanceof NotLeadingError)
      this.log.info({ err: msg }, 'APIC sync stopped: no longer leading');
    else this.log.error({ err: msg }, 'APIC sync failed');
    this.st = {
      ...this.st,
      lastError: msg,
      connected: !(e instanceof ApicConnectionError) && this.st.connected,
    };
    this.report();
    // Not connected yet, or lost: start over with a full sync, after a backoff.
    this.fullSyncNeeded = true;
    const delay = backoffDelay(this.connectFailures++, this.retryBackoff);
    this.pausedUntil = Date.now() + delay;
    this.scheduleRetryTimer(delay);
  }

  /** Login, websocket, one subscription per class: their results are the actual state. */
  private async fullSync(): Promise<void> {
    this.log.info('Starting APIC full sync');
    this.subs.reset();
    this.classSubs.clear();
    await this.subs.start();
    this.actual.clear();
    await this.subscribeTags();
    await this.ensureSubscriptions();
    this.fullSyncNeeded = false;
    this.dirty.clear();
    this.sweep = false;
    this.st = { ...this.st, connected: true };
    await this.applyPlan('all');
    this.st = { ...this.st, lastFullSync: new Date() };
    this.connectFailures = 0;
    this.log.info({ owned: this.status().objectsOwned }, 'Completed APIC full sync');
    this.report();
  }

  private async subscribeTags(): Promise<void> {
    const spec: SubscriptionSpec = {
      kind: 'class',
      target: 'tagAnnotation',
      query: {
        'query-target-filter': `and(eq(tagAnnotation.key,"${ownerTagKey}"),wcard(tagAnnotation.value,"${this.options.prefix}-"))`,
      },
    };
    const { handle, imdata } = await this.subs.subscribe(spec, (mo) => this.onEvent(mo));
    this.classSubs.set('tagAnnotation', handle);
    flattenActual(imdata, this.actual);
  }

  private classSpec(cls: string): SubscriptionSpec {
    return {
      kind: 'class',
      target: cls,
      query: {
        'query-target-filter': `eq(${cls}.annotation,"${ownerAnnotation(this.options.prefix)}")`,
      },
    };
  }

  /** Subscribes every class in the desired state not yet watched; their owned objects join the cache. */
  private async ensureSubscriptions(): Promise<void> {
    // Every class this process ever desired, not only today's: after the
    // desired state is emptied (AciFabric deletion), a full resync must still
    // read the objects of those classes that an earlier, in-flight write made,
    // or it counts nothing owned and deletes nothing (cleanup.e2e under load).
    for (const n of this.getIndex().nodes.values())
      if (n.cls !== 'tagAnnotation' && n.cls !== 'tagInst') this.everDesiredClasses.add(n.cls);
    for (const cls of this.everDesiredClasses) {
      if (this.classSubs.has(cls) || this.unknownClasses.has(cls)) continue;
      try {
        const { handle, imdata } = await this.subs.subscribe(this.classSpec(cls), (mo) =>
          this.onEvent(mo),
        );
        this.classSubs.set(cls, handle);
        flattenActual(imdata, this.actual);
      } catch (e) {
        if (e instanceof ApicRequestError && e.status === 400) {
          // The APIC does not know the class (or the annotation property): writes will report the real error.
          this.unknownClasses.add(cls);
          this.log.warn({ cls, err: e.text }, 'Could not subscribe to APIC class');
        } else throw e;
      }
    }
  }

  private onResync(results: Map<SubscriptionHandle, Mo[]>): void {
    this.log.warn('APIC connection re-established, resyncing');
    this.actual.clear();
    for (const imdata of results.values()) flattenActual(imdata, this.actual);
    this.st = { ...this.st, connected: true };
    this.sweep = true;
    this.kick();
    void this.waitIdle(600_000)
      .then(() => {
        this.st = { ...this.st, lastFullSync: new Date() };
        this.report();
      })
      .catch(() => undefined);
  }

  /** A change pushed by the APIC: fold it into the cache and re-check whoever owns or wants that DN. */
  private onEvent(mo: Mo): void {
    const cls = moClass(mo);
    const attrs = moAttrs(mo);
    const dn = attrs.dn;
    if (dn === undefined) return;
    const status = attrs.status ?? 'modified';
    const tagOwner = (d: string) => this.actual.get(tagDn(d))?.attrs.value;
    const ownerTag =
      cls === 'tagAnnotation' ? (attrs.value ?? this.actual.get(dn)?.attrs.value) : tagOwner(dn);
    if (status === 'deleted') {
      for (const d of [...this.actual.keys()]) if (isUnder(d, dn)) this.actual.delete(d);
    } else {
      const { status: _s, ...rest } = attrs;
      const prev = this.actual.get(dn);
      this.actual.set(dn, { cls, attrs: { ...(prev?.attrs ?? {}), ...rest } });
    }
    const index = this.getIndex();
    const desiredNode = index.nodes.get(dn);
    // The echo of our own write (every attribute we manage already as desired) needs no plan.
    if (status !== 'deleted' && desiredNode !== undefined && desiredNode.cls === cls) {
      const now = this.actual.get(dn)?.attrs ?? {};
      if (Object.entries(desiredNode.attrs).every(([k, v]) => now[k] === v)) return;
    }
    const node =
      desiredNode ??
      (cls === 'tagAnnotation'
        ? index.nodes.get(dn.replace(/\/annotationKey-\[[^\]]*\]$/, ''))
        : undefined);
    if (node !== undefined) this.dirty.add(node.key);
    else if (ownerTag !== undefined || attrs.annotation === ownerAnnotation(this.options.prefix)) {
      // Owned but not desired (someone re-created it, or a leftover): the sweep deletes it.
      let key: string | undefined;
      for (const [k, t] of index.tags) if (t === ownerTag) key = k;
      if (key !== undefined) this.dirty.add(key);
      else this.sweep = true;
    }
    // Coalesce bursts of events into one plan.
    setTimeout(() => this.kick(), 20).unref();
  }

  private async applyPlan(scope: ReadonlySet<string> | 'all'): Promise<void> {
    const index = this.getIndex();
    const plan = planSync(index, this.actual, scope, {
      prefix: this.options.prefix,
      ...(this.options.maxObjectsPerPost !== undefined
        ? { maxObjectsPerPost: this.options.maxObjectsPerPost }
        : {}),
      ...(this.options.adoptAnnotations !== undefined
        ? { adoptAnnotations: this.options.adoptAnnotations }
        : {}),
    });
    if (scope === 'all') this.st = { ...this.st, conflicts: plan.conflicts };
    else if (plan.conflicts.length > 0)
      this.st = { ...this.st, conflicts: [...new Set([...this.st.conflicts, ...plan.conflicts])] };
    if (plan.writes.length === 0) return;
    this.log.debug(
      { writes: plan.writes.length, scope: scope === 'all' ? 'all' : scope.size },
      'Applying APIC plan',
    );
    const queue = [...plan.writes];
    const worker = async () => {
      for (let w = queue.shift(); w !== undefined; w = queue.shift()) await this.execute(w);
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, worker));
    this.report();
  }

  private async throttle(): Promise<void> {
    const now = Date.now();
    const next = Math.max(now, this.lastWriteAt + this.minWriteIntervalMs);
    this.lastWriteAt = next;
    if (next > now) await sleep(next - now);
  }

  private async execute(w: PlannedWrite): Promise<void> {
    await this.throttle();
    try {
      if (w.method === 'DELETE') await this.client.delete(w.dn);
      else await this.client.post(w.dn, w.body as Mo);
      applyWrite(this.actual, w);
      for (const k of w.keys) this.attempts.delete(k);
    } catch (e) {
      if (e instanceof ApicConnectionError) throw e;
      if (!(e instanceof ApicRequestError)) throw e;
      if (w.parts !== undefined && e.status === 400) {
        // One bad item must not block its batch-mates: retry them one by one.
        for (const p of w.parts) await this.execute(p);
        return;
      }
      if (e.status === 400 && e.code === '103') {
        // "already exists": a foreign object holds a DN we meant to create. Read that subtree and plan around it.
        await this.learnSubtree(w);
        for (const k of w.keys) this.dirty.add(k);
        return;
      }
      this.st = { ...this.st, lastError: e.message };
      this.log.warn({ dn: w.dn, status: e.status, code: e.code, err: e.text }, 'APIC write failed');
      for (const k of w.keys) this.scheduleRetry(k);
      // Deletes of objects no desired key names (found by a sweep): only another sweep finds them again.
      if (w.keys.size === 0) this.scheduleRetry(SweepRetryKey);
    }
  }

  private async learnSubtree(w: PlannedWrite): Promise<void> {
    const roots = new Set<string>();
    for (const [dn] of w.set) {
      if (![...roots].some((r) => isUnder(dn, r))) roots.add(dn);
    }
    for (const dn of roots) {
      const res = await this.client.getMo(dn, { 'rsp-subtree': 'full' });
      flattenActual(res.imdata, this.actual);
    }
  }

  private scheduleRetry(key: string): void {
    const attempt = (this.attempts.get(key) ?? -1) + 1;
    this.attempts.set(key, attempt);
    const delay = backoffDelay(attempt, this.retryBackoff);
    this.retries.set(key, Date.now() + delay);
    this.scheduleRetryTimer(delay);
  }

  private scheduleRetryTimer(delay: number): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const now = Date.now();
      let next = Infinity;
      for (const [k, at] of this.retries) {
        if (at <= now) {
          this.retries.delete(k);
          if (k === SweepRetryKey) this.sweep = true;
          else this.dirty.add(k);
        } else next = Math.min(next, at - now);
      }
      if (Number.isFinite(next)) this.scheduleRetryTimer(next);
      // Timers may fire a millisecond early by Date.now(); the pause is over when its timer fires.
      this.pausedUntil = 0;
      this.kick();
    }, delay);
    this.retryTimer.unref();
  }
}
