// APIC query subscriptions over the websocket /socket<token>.
//
// A subscription is a query with `subscription=yes&refresh-timeout=N`; the
// APIC returns the current result plus a subscriptionId, then pushes every
// change the query covers on the websocket. Subscriptions die unless
// refreshed (subscriptionRefresh.json) within N seconds, and all of them die
// with the socket. So when the socket drops or a refresh fails, this module
// reconnects with backoff, subscribes every query again, and emits `resync`
// with the fresh results: events may have been lost, so the consumer must
// treat the results as the new truth.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import { backoffDelay, sleep, type BackoffOptions } from '../../../lib/kube/backoff.ts';
import { encodeQuery, dnPath, type ApicClient, type QueryParams } from './client.ts';
import { SubscriptionEventSchema, type Mo } from './mo.ts';

class UpgradeRefused extends Error {}

export interface SubscriptionSpec {
  readonly kind: 'mo' | 'class';
  /** DN for `mo`, class name for `class`. */
  readonly target: string;
  readonly query?: QueryParams;
}

export type EventHandler = (mo: Mo) => void;

export interface SubscriptionHandle {
  readonly spec: SubscriptionSpec;
  /** Current APIC subscription id; changes on every re-subscribe. */
  readonly id: string;
}

interface Entry {
  readonly spec: SubscriptionSpec;
  readonly handler: EventHandler;
  id: string;
}

export interface ApicSubscriptionsOptions {
  /** refresh-timeout sent to the APIC (default 60 s); refreshed at half of it. */
  readonly refreshTimeoutSeconds?: number;
  readonly backoff?: BackoffOptions;
  readonly logger?: Logger;
}

export interface ApicSubscriptionsEvents {
  /** After a reconnect: every subscription is new; results per handle. */
  resync: [results: Map<SubscriptionHandle, Mo[]>];
  connected: [];
  disconnected: [reason: string];
}

export class ApicSubscriptions extends EventEmitter<ApicSubscriptionsEvents> {
  private readonly entries = new Set<Entry>();
  private readonly byId = new Map<string, Entry>();
  private ws: WebSocket | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly refreshTimeout: number;
  private readonly backoff: BackoffOptions;
  private readonly log: Logger;
  private stopped = false;
  private reconnectInFlight: Promise<void> | undefined;
  private readonly abort = new AbortController();
  /** Bumped by reset(): a reconnect started before it must not resurrect old subscriptions. */
  private generation = 0;

  constructor(
    private readonly client: ApicClient,
    options: ApicSubscriptionsOptions = {},
  ) {
    super();
    this.refreshTimeout = options.refreshTimeoutSeconds ?? 60;
    this.backoff = options.backoff ?? { initialMs: 200, maxMs: 15_000 };
    this.log = (options.logger ?? client.log).child({ component: 'apic-subscriptions' });
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** True while a reconnect (and the resync that follows it) is under way. */
  get reconnecting(): boolean {
    return this.reconnectInFlight !== undefined;
  }

  /** Opens the websocket (logging in first); call before subscribing so no event is missed. */
  async start(): Promise<void> {
    await this.openSocket();
    this.startRefresh();
  }

  /** Subscribes a query: returns its current result; `handler` gets each later change. */
  async subscribe(
    spec: SubscriptionSpec,
    handler: EventHandler,
  ): Promise<{ handle: SubscriptionHandle; imdata: Mo[] }> {
    const entry: Entry = { spec, handler, id: '' };
    const imdata = await this.issue(entry);
    this.entries.add(entry);
    return { handle: entry, imdata };
  }

  unsubscribe(handle: SubscriptionHandle): void {
    for (const e of this.entries) {
      if (e === handle) {
        this.entries.delete(e);
        this.byId.delete(e.id);
      }
    }
  }

  /** Drops the socket and every subscription, ready for start() on a new connection. */
  reset(): void {
    this.generation++;
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    this.entries.clear();
    this.byId.clear();
    const ws = this.ws;
    this.ws = undefined;
    if (ws !== undefined) {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws !== undefined) {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
    }
  }

  private async issue(entry: Entry): Promise<Mo[]> {
    const query = {
      ...(entry.spec.query ?? {}),
      subscription: 'yes',
      'refresh-timeout': this.refreshTimeout,
    };
    const path =
      entry.spec.kind === 'mo'
        ? `/api/mo/${dnPath(entry.spec.target)}.json${encodeQuery(query)}`
        : `/api/class/${entry.spec.target}.json${encodeQuery(query)}`;
    const res = await this.client.query(path);
    if (res.subscriptionId === undefined)
      throw new Error(`APIC returned no subscriptionId for ${entry.spec.target}`);
    this.byId.delete(entry.id);
    entry.id = res.subscriptionId;
    this.byId.set(entry.id, entry);
    return res.imdata;
  }

  private async openSocket(): Promise<void> {
    try {
      await this.connectSocket();
    } catch (e) {
      if (!(e instanceof UpgradeRefused)) throw e;
      // The session died with an APIC restart or expiry: a fresh login, then one more try.
      await this.client.login();
      await this.connectSocket();
    }
  }

  private async connectSocket(): Promise<void> {
    if (this.client.websocketToken === undefined) await this.client.login();
    const token = this.client.websocketToken;
    const host = this.client.sessionHost ?? this.client.currentHost;
    if (token === undefined) throw new Error('no APIC session token for the websocket');
    const url = `${host.replace(/^https/, 'wss').replace(/^http:/, 'ws:')}/socket${token}`;
    const ws = new WebSocket(url, { ...this.client.tlsOptions, handshakeTimeout: 10_000 });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        reject(new UpgradeRefused(`websocket upgrade refused: HTTP ${res.statusCode ?? 0}`));
      });
    });
    ws.removeAllListeners('error');
    ws.on('message', (data) => this.onMessage(data.toString()));
    ws.on('error', (err) => this.log.warn({ err: err.message }, 'APIC websocket error'));
    ws.on('close', (code) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.emit('disconnected', `websocket closed (${code})`);
      void this.reconnect(`websocket closed (${code})`);
    });
    this.ws = ws;
    this.log.info({ host }, 'Connected APIC websocket');
    this.emit('connected');
  }

  private onMessage(text: string): void {
    let parsed;
    try {
      parsed = SubscriptionEventSchema.safeParse(JSON.parse(text));
    } catch {
      this.log.warn('Ignored a websocket message that is not JSON');
      return;
    }
    if (!parsed.success) {
      this.log.warn('Ignored a websocket message that is not a subscription event');
      return;
    }
    const seen = new Set<Entry>();
    for (const id of parsed.data.subscriptionId) {
      const entry = this.byId.get(id);
      if (entry === undefined || seen.has(entry)) continue;
      seen.add(entry);
      for (const mo of parsed.data.imdata) {
        try {
          entry.handler(mo);
        } catch (e) {
          this.log.error({ err: (e as Error).message }, 'Subscription handler failed');
        }
      }
    }
  }

  private startRefresh(): void {
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    // Half the timeout leaves room for one slow or retried refresh.
    this.refreshTimer = setInterval(() => void this.refreshAll(), (this.refreshTimeout * 1000) / 2);
    this.refreshTimer.unref();
  }

  private async refreshAll(): Promise<void> {
    if (this.reconnectInFlight !== undefined || this.stopped) return;
    try {
      for (const e of this.entries) await this.client.subscriptionRefresh(e.id);
    } catch (e) {
      this.log.warn(
        { err: (e as Error).message },
        'APIC subscription refresh failed, reconnecting',
      );
      this.ws?.terminate();
      void this.reconnect('subscription refresh failed');
    }
  }

  /** Reconnects with backoff, re-subscribes everything and emits `resync`. */
  reconnect(reason: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.reconnectInFlight ??= this.doReconnect(reason).finally(() => {
      this.reconnectInFlight = undefined;
    });
    return this.reconnectInFlight;
  }

  private async doReconnect(reason: string): Promise<void> {
    this.log.warn({ reason }, 'Reconnecting APIC websocket');
    const gen = this.generation;
    for (let attempt = 0; !this.stopped; attempt++) {
      await sleep(backoffDelay(attempt, this.backoff), this.abort.signal);
      if (this.stopped || gen !== this.generation) return;
      try {
        const old = this.ws;
        this.ws = undefined;
        old?.removeAllListeners('close');
        old?.terminate();
        // The session may be gone with the old socket (APIC restart): start from a fresh login.
        await this.client.login();
        if (gen !== this.generation) return;
        await this.openSocket();
        if (gen !== this.generation) return;
        const results = new Map<SubscriptionHandle, Mo[]>();
        for (const e of this.entries) results.set(e, await this.issue(e));
        if (gen !== this.generation) return;
        this.startRefresh();
        this.log.info({ subscriptions: results.size }, 'Re-subscribed after APIC reconnect');
        this.emit('resync', results);
        return;
      } catch (e) {
        this.log.warn({ attempt, err: (e as Error).message }, 'APIC reconnect attempt failed');
      }
    }
  }
}
