/**
 * The opflex agent's OpFlex client: the session with the leaf that the
 * original agent-ovs keeps (libopflex OpflexPEHandler + Processor).
 *
 * Session: connect (TLS verified against the configured CA by default) →
 * echo → send_identity (name, domain, my_role policy_element) → the reply
 * must list the server itself in `peers` (else the session closes, as the
 * original does: "Current peer not found in peer list") and its peers
 * become the failover list → policy_resolve of PlatformConfig and of every
 * local endpoint's EPG, then of everything those reference, until closed →
 * endpoint_declare of each endpoint once its EPG's forwarding is known,
 * refreshed at half the prr, endpoint_undeclare when it goes → echo every
 * 10 s; no reply within the keepalive timeout closes the session.
 *
 * Faults: a session that fails or closes is retried with backoff
 * (lib/kube/backoff.ts), moving to the next known peer each time. The store
 * is never cleared by a disconnect, so the data plane keeps the last policy;
 * on reconnect everything is re-resolved (replies replace what is stored,
 * objects the leaf no longer has are deleted) and re-declared.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from 'pino';
import { backoffDelay, sleep } from '../../../lib/kube/backoff.ts';
import { RpcConnection, RpcError } from '../../../lib/opflex/connection.ts';
import type { JsonValue } from '../../../lib/opflex/json.ts';
import {
  EndpointResolveResult,
  EndpointUpdateParams,
  ErrorCodes,
  PolicyResolveResult,
  PolicyUpdateParams,
  SendIdentityResult,
} from '../../../lib/opflex/messages.ts';
import type { ManagedObject } from '../../../lib/opflex/mo.ts';
import { platformConfigUri } from '../../../lib/opflex/uri.ts';
import { type LocalEndpointDeclaration, endpointObjects } from './endpoints.ts';
import { PolicyStore, type StoreOperation, closure } from './store.ts';

export interface OpflexPeer {
  host: string;
  port: number;
}

export type OpflexTls =
  /** Verify the leaf's certificate against this CA bundle (the default and the only safe mode). */
  | { mode: 'verify'; caFile: string; serverName?: string }
  /** Encrypt without checking who answers: the original's `encrypted` mode. Opt-in only. */
  | { mode: 'insecure-encrypted-unverified' }
  /** Plain TCP: no TLS at all. Opt-in only, for a leaf without TLS. */
  | { mode: 'insecure-plaintext' };

export interface OpflexClientOptions {
  /** Agent name in send_identity (the node name, as the original uses the host name). */
  name: string;
  /** The OpFlex domain; PlatformConfig `/PolicyUniverse/PlatformConfig/<domain>/` is resolved first. */
  domain: string;
  peers: OpflexPeer[];
  tls: OpflexTls;
  log: Logger;
  /** Policy resolution / endpoint declaration lifetime sent as prr (default 7200 s, as the original). */
  prrSeconds?: number;
  echoIntervalMs?: number;
  /** No echo reply within this long closes the session (default 3 echo intervals). */
  keepaliveTimeoutMs?: number;
  connectTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  maxMessageBytes?: number;
}

export interface OpflexClientEvents {
  ready: [peer: string];
  disconnected: [reason: string];
}

const peerKey = (p: OpflexPeer): string => `${p.host}:${p.port}`;

export function parseConnectivityInfo(text: string): OpflexPeer | undefined {
  const i = text.lastIndexOf(':');
  if (i <= 0) return undefined;
  const port = Number(text.slice(i + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: text.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port };
}

export class OpflexClient extends EventEmitter<OpflexClientEvents> {
  readonly store = new PolicyStore();
  private readonly log: Logger;
  private peers: OpflexPeer[];
  private peerIndex = 0;
  private connection?: RpcConnection;
  private ready = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private running?: Promise<void>;
  private endpoints = new Map<string, LocalEndpointDeclaration>();
  /** Declared registry objects by URI (JSON of what was sent), this session. */
  private declared = new Map<string, { subject: string; json: string }>();
  /** URIs resolved in this session (policy_resolve sent). */
  private resolved = new Map<string, string>();
  /** Remote endpoints the agent asked for (URI → subject), and those resolved this session. */
  private remoteWanted = new Map<string, string>();
  private remoteResolved = new Set<string>();
  private reconciling?: Promise<void>;
  private reconcileAgain = false;
  private timers: NodeJS.Timeout[] = [];
  private retryTimer?: NodeJS.Timeout;
  private reconcileFailures = 0;
  readonly stats = { sessions: 0, resolves: 0, declares: 0, updates: 0, loopsReported: 0 };

  constructor(private readonly opts: OpflexClientOptions) {
    super();
    if (opts.peers.length === 0) throw new Error('OpFlex client needs at least one peer');
    this.log = opts.log.child({ component: 'opflex-client' });
    this.peers = [...opts.peers];
    if (opts.tls.mode !== 'verify')
      this.log.warn({ mode: opts.tls.mode }, 'OpFlex TLS verification is off by configuration');
    this.store.on('changed', () => this.requestReconcile());
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** The peers known now: the configured ones and those the leaf named. */
  get knownPeers(): string[] {
    return this.peers.map(peerKey);
  }

  get currentPeer(): string | undefined {
    return this.ready ? peerKey(this.peers[this.peerIndex] as OpflexPeer) : undefined;
  }

  /** URIs of the objects the declared endpoints were registered as. */
  get declaredUris(): string[] {
    return [...this.declared.keys()];
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.clearTimers();
    this.connection?.close('client stopped');
    await this.running;
  }

  /** The node's endpoints now; the client declares, refreshes and undeclares to match. */
  setEndpoints(endpoints: Iterable<LocalEndpointDeclaration>): void {
    const next = new Map([...endpoints].map((e) => [e.uuid, e]));
    // The agent hands its endpoints over on every render: the same set is no work.
    if (isDeepStrictEqual(next, this.endpoints)) return;
    this.endpoints = next;
    this.requestReconcile();
  }

  /**
   * Endpoints of other nodes to resolve (endpoint_resolve), e.g. EprL3Ep
   * URIs: the replies and later endpoint_update pushes land in the store.
   */
  setRemoteEndpoints(refs: Iterable<{ subject: string; uri: string }>): void {
    const next = new Map([...refs].map((r) => [r.uri, r.subject]));
    if (isDeepStrictEqual(next, this.remoteWanted)) return;
    this.remoteWanted = next;
    this.requestReconcile();
  }

  /** Resolves once no reconcile is pending (tests; production never waits on it). */
  async settled(): Promise<void> {
    while (this.reconciling) await this.reconciling;
  }

  private roots(): Map<string, string> {
    const roots = new Map<string, string>([
      [platformConfigUri(this.opts.domain), 'PlatformConfig'],
    ]);
    for (const ep of this.endpoints.values()) roots.set(ep.epgUri, 'GbpEpGroup');
    return roots;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const peer = this.peers[this.peerIndex % this.peers.length] as OpflexPeer;
      try {
        const conn = await this.connect(peer);
        if (await this.handshake(conn, peer)) {
          attempt = 0;
          await this.serveSession(conn, peer);
        }
      } catch (err) {
        if (!this.stopped)
          this.log.warn(
            { peer: peerKey(peer), err: (err as Error).message },
            'OpFlex session failed',
          );
      }
      this.endSession();
      if (this.stopped) break;
      // The next peer on every failure: the leaf named its failover list for this.
      this.peerIndex = (this.peerIndex + 1) % this.peers.length;
      const delay = backoffDelay(attempt++, this.opts.backoff ?? { initialMs: 250, maxMs: 15_000 });
      await sleep(delay, this.abort.signal);
    }
  }

  private async connect(peer: OpflexPeer): Promise<RpcConnection> {
    const tls = this.opts.tls;
    const timeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    const socket: Socket = await new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      let s: Socket;
      if (tls.mode === 'insecure-plaintext') {
        s = tcpConnect({ host: peer.host, port: peer.port }, () => resolve(s));
      } else {
        const caPromise = tls.mode === 'verify' ? readFile(tls.caFile) : Promise.resolve(undefined);
        void caPromise.then(
          (ca) => {
            s = tlsConnect(
              {
                host: peer.host,
                port: peer.port,
                ...(tls.mode === 'verify'
                  ? {
                      ca,
                      rejectUnauthorized: true,
                      ...(tls.serverName !== undefined
                        ? { servername: tls.serverName }
                        : isIP(peer.host) === 0
                          ? { servername: peer.host }
                          : {}),
                    }
                  : { rejectUnauthorized: false }),
              },
              () => resolve(s),
            );
            s.once('error', onError);
            s.setTimeout(timeoutMs, () =>
              s.destroy(new Error(`connect timed out after ${timeoutMs} ms`)),
            );
          },
          (err: Error) =>
            reject(
              new Error(
                `cannot read OpFlex CA file ${(tls as { caFile: string }).caFile}: ${err.message}`,
              ),
            ),
        );
        return;
      }
      s.once('error', onError);
      s.setTimeout(timeoutMs, () =>
        s.destroy(new Error(`connect timed out after ${timeoutMs} ms`)),
      );
    });
    socket.setTimeout(0);
    socket.removeAllListeners('error');
    const conn = new RpcConnection(socket, {
      ...(this.opts.maxMessageBytes !== undefined
        ? { maxMessageBytes: this.opts.maxMessageBytes }
        : {}),
      handler: (method, params) => this.serve(method, params),
      onProtocolError: (reason) =>
        this.log.warn({ peer: peerKey(peer), reason }, 'Refused OpFlex message from the leaf'),
    });
    this.connection = conn;
    return conn;
  }

  private async handshake(conn: RpcConnection, peer: OpflexPeer): Promise<boolean> {
    await conn.request('echo', []);
    const reply = SendIdentityResult.safeParse(
      await conn.request('send_identity', [
        {
          proto_version: '1.0',
          name: this.opts.name,
          domain: this.opts.domain,
          my_role: ['policy_element'],
          data: { features: [] },
        },
      ]),
    );
    if (!reply.success) throw new Error(`malformed send_identity reply: ${reply.error.message}`);
    const named = reply.data.peers.flatMap((p) => {
      const parsed = parseConnectivityInfo(p.connectivity_info);
      return parsed ? [parsed] : [];
    });
    const self = peerKey(peer);
    for (const p of named)
      if (!this.peers.some((k) => peerKey(k) === peerKey(p))) this.peers.push(p);
    if (!named.some((p) => peerKey(p) === self)) {
      this.log.warn(
        { peer: self, peers: named.map(peerKey) },
        'Current peer not found in peer list; closing',
      );
      conn.close('current peer not in the peer list');
      return false;
    }
    this.peerIndex = this.peers.findIndex((p) => peerKey(p) === self);
    return true;
  }

  private async serveSession(conn: RpcConnection, peer: OpflexPeer): Promise<void> {
    const closed = new Promise<string>((resolve) => conn.once('close', resolve));
    this.ready = true;
    this.stats.sessions++;
    this.resolved.clear();
    this.declared.clear();
    this.remoteResolved.clear();
    this.log.info({ peer: peerKey(peer), peers: this.knownPeers }, 'OpFlex session ready');
    this.emit('ready', peerKey(peer));
    this.startTimers(conn);
    // Everything again: the store kept the last policy, the leaf may have changed meanwhile.
    this.requestReconcile();
    const reason = await closed;
    this.log.warn(
      { peer: peerKey(peer), reason },
      'OpFlex session closed; keeping the last policy',
    );
  }

  private endSession(): void {
    const wasReady = this.ready;
    this.ready = false;
    this.clearTimers();
    this.connection?.close('session ended');
    this.connection = undefined;
    if (wasReady) this.emit('disconnected', 'session ended');
  }

  private startTimers(conn: RpcConnection): void {
    const echoMs = this.opts.echoIntervalMs ?? 10_000;
    const keepaliveMs = this.opts.keepaliveTimeoutMs ?? 3 * echoMs;
    let lastReply = Date.now();
    this.timers.push(
      setInterval(() => {
        if (Date.now() - lastReply > keepaliveMs) {
          conn.close(`no echo reply for ${keepaliveMs} ms`);
          return;
        }
        conn.request('echo', [], keepaliveMs).then(
          () => (lastReply = Date.now()),
          () => undefined,
        );
      }, echoMs),
    );
    // Declarations and resolutions live for prr seconds on the leaf: refresh at half of it.
    const prrMs = (this.opts.prrSeconds ?? 7200) * 1000;
    this.timers.push(
      setInterval(() => {
        this.declared.clear();
        this.resolved.clear();
        this.remoteResolved.clear();
        this.requestReconcile();
      }, prrMs / 2),
    );
  }

  private clearTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private requestReconcile(): void {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = (async () => {
      do {
        this.reconcileAgain = false;
        try {
          await this.reconcile();
          this.reconcileFailures = 0;
        } catch (err) {
          // A refused declaration or resolve is tried again with backoff while the session lasts.
          const delay = backoffDelay(
            this.reconcileFailures++,
            this.opts.backoff ?? { initialMs: 250, maxMs: 15_000 },
          );
          this.log.warn(
            { err: (err as Error).message, retryInMs: delay },
            'OpFlex reconcile failed',
          );
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            if (this.ready) {
              this.declared.clear();
              this.requestReconcile();
            }
          }, delay);
        }
      } while (this.reconcileAgain && this.ready);
    })().finally(() => {
      this.reconciling = undefined;
    });
  }

  /** Resolve what is missing, unresolve what nobody needs, declare and undeclare endpoints. */
  private async reconcile(): Promise<void> {
    const conn = this.connection;
    if (!this.ready || conn === undefined) return;
    const prr = this.opts.prrSeconds ?? 7200;
    for (let round = 0; round < 64; round++) {
      const snapshot = this.store.snapshot();
      const c = closure(snapshot, this.roots());
      for (const loop of c.loops) {
        this.stats.loopsReported++;
        this.log.warn({ loop }, 'OpFlex policy has a reference loop; not following it again');
      }
      // Resolve the roots, every reference target not resolved this session, and what is missing.
      const wanted = new Map<string, string>();
      for (const [uri, subject] of [...this.roots(), ...c.missing])
        if (!this.resolved.has(uri)) wanted.set(uri, subject);
      for (const mo of snapshot.values())
        if (c.reachable.has(mo.uri) && !this.resolved.has(mo.uri) && this.isTopLevel(mo, snapshot))
          wanted.set(mo.uri, mo.subject);
      if (wanted.size === 0) break;
      await this.resolve(conn, wanted, prr);
    }
    // What is resolved but no longer reachable from any root.
    const c = closure(this.store.snapshot(), this.roots());
    const gone = [...this.resolved].filter(([uri]) => !c.reachable.has(uri));
    if (gone.length > 0) {
      for (const [uri] of gone) this.resolved.delete(uri);
      await conn.request(
        'policy_unresolve',
        gone.map(([uri, subject]) => ({ subject, policy_uri: uri })),
      );
      this.store.prune((uri) => c.reachable.has(uri));
    }
    await this.declareEndpoints(conn, prr);
    await this.resolveRemoteEndpoints(conn, prr);
  }

  private async resolveRemoteEndpoints(conn: RpcConnection, prr: number): Promise<void> {
    const wanted = [...this.remoteWanted].filter(([uri]) => !this.remoteResolved.has(uri));
    const gone = [...this.remoteResolved].filter((uri) => !this.remoteWanted.has(uri));
    if (wanted.length > 0) {
      for (const [uri] of wanted) this.remoteResolved.add(uri);
      const reply = EndpointResolveResult.safeParse(
        await conn.request(
          'endpoint_resolve',
          wanted.map(([uri, subject]) => ({ subject, endpoint_uri: uri, prr })),
        ),
      );
      if (!reply.success)
        throw new Error(`malformed endpoint_resolve reply: ${reply.error.message}`);
      const got = new Set(reply.data.endpoint.map((o) => o.uri));
      const ops: StoreOperation[] = reply.data.endpoint.map((mo) => ({ op: 'replace', mo }));
      for (const [uri] of wanted)
        if (!got.has(uri) && this.store.has(uri)) ops.push({ op: 'delete', uri });
      this.store.apply(ops);
    }
    if (gone.length > 0) {
      for (const uri of gone) this.remoteResolved.delete(uri);
      await conn.request(
        'endpoint_unresolve',
        gone.map((uri) => ({
          subject: this.store.get(uri)?.subject ?? 'EprL3Ep',
          endpoint_uri: uri,
        })),
      );
      this.store.apply(gone.map((uri) => ({ op: 'delete', uri })));
    }
  }

  /** An object that came as the head of a resolve (not inside another object's subtree). */
  private isTopLevel(mo: ManagedObject, store: ReadonlyMap<string, ManagedObject>): boolean {
    return mo.parent_uri === undefined || !store.has(mo.parent_uri) || this.resolved.has(mo.uri);
  }

  private async resolve(
    conn: RpcConnection,
    wanted: Map<string, string>,
    prr: number,
  ): Promise<void> {
    for (const [uri, subject] of wanted) this.resolved.set(uri, subject);
    this.stats.resolves += wanted.size;
    const reply = PolicyResolveResult.safeParse(
      await conn.request(
        'policy_resolve',
        [...wanted].map(([uri, subject]) => ({ subject, policy_uri: uri, prr })),
      ),
    );
    if (!reply.success) throw new Error(`malformed policy_resolve reply: ${reply.error.message}`);
    const got = new Set(reply.data.policy.map((o) => o.uri));
    const ops: StoreOperation[] = reply.data.policy.map((mo) => ({ op: 'replace', mo }));
    // The leaf no longer has it: what the store kept from before goes.
    for (const uri of wanted.keys())
      if (!got.has(uri) && this.store.has(uri)) ops.push({ op: 'delete', uri });
    this.store.apply(ops);
  }

  private async declareEndpoints(conn: RpcConnection, prr: number): Promise<void> {
    const snapshot = this.store.snapshot();
    const now = new Map<string, ManagedObject>();
    for (const ep of this.endpoints.values())
      for (const mo of endpointObjects(snapshot, ep)) now.set(mo.uri, mo);
    const changed = [...now.values()].filter(
      (mo) => this.declared.get(mo.uri)?.json !== JSON.stringify(mo),
    );
    const removed = [...this.declared].filter(([uri]) => !now.has(uri));
    if (changed.length > 0) {
      await conn.request('endpoint_declare', [{ endpoint: changed, prr }]);
      this.stats.declares += changed.length;
      for (const mo of changed)
        this.declared.set(mo.uri, { subject: mo.subject, json: JSON.stringify(mo) });
    }
    if (removed.length > 0) {
      await conn.request(
        'endpoint_undeclare',
        removed.map(([uri, d]) => ({ subject: d.subject, endpoint_uri: uri })),
      );
      for (const [uri] of removed) this.declared.delete(uri);
    }
  }

  private serve(method: string, params: JsonValue): object {
    switch (method) {
      case 'policy_update': {
        const parsed = PolicyUpdateParams.safeParse(params);
        if (!parsed.success)
          throw new RpcError(
            ErrorCodes.error,
            `Malformed message: policy_update: ${parsed.error.issues[0]?.message ?? ''}`,
          );
        const ops: StoreOperation[] = [];
        for (const item of parsed.data) {
          for (const mo of item.replace) ops.push({ op: 'replace', mo });
          for (const mo of item.merge_children) ops.push({ op: 'merge', mo });
          for (const d of [...item.delete, ...item.delete_uri])
            ops.push({ op: 'delete', uri: d.uri });
        }
        this.stats.updates++;
        this.store.apply(ops);
        return {};
      }
      case 'endpoint_update': {
        const parsed = EndpointUpdateParams.safeParse(params);
        if (!parsed.success)
          throw new RpcError(
            ErrorCodes.error,
            `Malformed message: endpoint_update: ${parsed.error.issues[0]?.message ?? ''}`,
          );
        const ops: StoreOperation[] = [];
        for (const item of parsed.data) {
          for (const mo of item.replace) ops.push({ op: 'replace', mo });
          for (const d of item.delete) ops.push({ op: 'delete', uri: d.uri });
        }
        this.store.apply(ops);
        return {};
      }
      default:
        throw new RpcError(ErrorCodes.unsupported, `Unsupported request: ${method}`);
    }
  }
}
