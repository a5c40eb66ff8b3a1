/**
 * The leaf simulator's OpFlex server: what the ACI leaf's OpFlex proxy is to
 * the nodes' opflex agents. It serves the policy universe mapped from the
 * APIC tree (mapping.ts), pushes `policy_update` to every session that
 * resolved an object when the object's subtree changes, and keeps the
 * endpoint registry (endpoint_declare / undeclare / resolve, expiring
 * declarations whose prr ran out).
 *
 * Each connection is its own session (RpcConnection): a bad message gets an
 * error reply on that session only, an oversized one closes that session
 * only. Like libopflex's server, requests other than send_identity and echo
 * are refused with ESTATE until the identity exchange is done.
 */
import { type Server, type Socket, createServer as createTcpServer } from 'node:net';
import { type TLSSocket, createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { RpcConnection, RpcError } from '../../../lib/opflex/connection.ts';
import type { JsonValue } from '../../../lib/opflex/json.ts';
import {
  EndpointDeclareParams,
  EndpointResolveParams,
  EndpointUndeclareParams,
  ErrorCodes,
  PolicyResolveParams,
  PolicyUnresolveParams,
  Roles,
  SendIdentityParams,
  StateReportParams,
} from '../../../lib/opflex/messages.ts';
import type { ManagedObject } from '../../../lib/opflex/mo.ts';
import { isModelClass } from '../../../lib/opflex/model-classes.ts';
import { IdAllocator } from './ids.ts';
import { type ApicObject, type PlatformSettings, mapApicTree, subtree } from './mapping.ts';
import type { z } from 'zod';

export interface OpflexServerOptions {
  /** Address to listen on (default 127.0.0.1) and port (0: any free one). */
  host?: string;
  port?: number;
  /** Server certificate and key (PEM). Without them the server speaks plain TCP, which the client accepts only when told to. */
  tls?: { certPem: string; keyPem: string };
  /** What the identity reply names this leaf. */
  name?: string;
  /** `host:port` the agents reach this server at (default: the listening address); always the first peer. */
  advertise?: string;
  /** Further peers the identity reply lists (the failover list an agent learns). */
  peers?: string[];
  platform: PlatformSettings;
  bridgeDomainEncaps?: Readonly<Record<string, number>>;
  maxMessageBytes?: number;
  log: Logger;
}

/** A declared endpoint, as the registry keeps it. */
export interface RegisteredEndpoint {
  uri: string;
  subject: string;
  /** The declared object and the ones contained in it. */
  objects: ManagedObject[];
  /** Agent name of the declaring session. */
  declaredBy: string;
  expiresAt: number;
}

interface Session {
  readonly id: number;
  readonly connection: RpcConnection;
  readonly remote: string;
  identity?: { name: string; domain: string };
  /** URI → subject of what this session resolved. */
  readonly resolved: Map<string, string>;
  /** Endpoint URIs this session resolved (endpoint_resolve): it gets endpoint_update for them. */
  readonly endpointsResolved: Set<string>;
}

const FirstReadyMethods = new Set(['send_identity', 'echo']);

function parse<S extends z.ZodType>(schema: S, params: JsonValue, method: string): z.infer<S> {
  const r = schema.safeParse(params);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new RpcError(
      ErrorCodes.error,
      `Malformed message: ${method} ${issue?.path.join('.') || 'params'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return r.data as z.infer<S>;
}

/**
 * The objects of one declaration must form a tree: no object is its own
 * ancestor through parent_uri or children (a loop would make every walk of
 * the registry endless).
 */
export function findContainmentLoop(objects: readonly ManagedObject[]): string | undefined {
  const byUri = new Map(objects.map((o) => [o.uri, o]));
  for (const start of objects) {
    const seen = new Set<string>();
    let cur: ManagedObject | undefined = start;
    while (cur) {
      if (seen.has(cur.uri)) return cur.uri;
      seen.add(cur.uri);
      cur = cur.parent_uri === undefined ? undefined : byUri.get(cur.parent_uri);
    }
  }
  const state = new Map<string, 'open' | 'done'>();
  const visit = (uri: string): string | undefined => {
    const s = state.get(uri);
    if (s === 'open') return uri;
    if (s === 'done') return undefined;
    state.set(uri, 'open');
    for (const c of byUri.get(uri)?.children ?? []) {
      const loop = visit(c);
      if (loop) return loop;
    }
    state.set(uri, 'done');
    return undefined;
  };
  for (const o of objects) {
    const loop = visit(o.uri);
    if (loop) return loop;
  }
  return undefined;
}

function sameObjects(a: readonly ManagedObject[], b: readonly ManagedObject[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class OpflexServer {
  private server?: Server;
  private readonly sessions = new Set<Session>();
  private nextSessionId = 1;
  private universe = new Map<string, ManagedObject>();
  private readonly ids = new IdAllocator();
  private readonly endpoints = new Map<string, RegisteredEndpoint>();
  private expiryTimer?: NodeJS.Timeout;
  private port = 0;
  private readonly listeners = new Set<() => void>();
  readonly stats = {
    sessions: 0,
    resolves: 0,
    updatesSent: 0,
    errorsSent: 0,
    declares: 0,
    protocolErrors: 0,
  };

  constructor(private readonly opts: OpflexServerOptions) {
    this.universe = mapApicTree([], this.mappingOptions());
  }

  get address(): string {
    return this.opts.advertise ?? `${this.opts.host ?? '127.0.0.1'}:${this.port}`;
  }

  get listeningPort(): number {
    return this.port;
  }

  /** The policy universe served now, by URI. */
  get policy(): ReadonlyMap<string, ManagedObject> {
    return this.universe;
  }

  /** The endpoint registry (live declarations). */
  get registry(): ReadonlyMap<string, RegisteredEndpoint> {
    return this.endpoints;
  }

  /** Calls `listener` after the policy or the endpoint registry changed (the leaf's policer). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  /** Names of the agents with a session that completed the identity exchange. */
  get agents(): string[] {
    return [...this.sessions].flatMap((s) => (s.identity ? [s.identity.name] : []));
  }

  async start(): Promise<number> {
    const onSocket = (socket: Socket | TLSSocket): void => this.accept(socket);
    const server = this.opts.tls
      ? createTlsServer({ cert: this.opts.tls.certPem, key: this.opts.tls.keyPem }, onSocket)
      : createTcpServer(onSocket);
    // A TLS handshake that fails (an agent that does not trust us) concerns that socket only.
    server.on('tlsClientError', (err: Error) =>
      this.opts.log.warn({ err: err.message }, 'Refused OpFlex TLS client'),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => {
        const a = server.address();
        if (a !== null && typeof a === 'object') this.port = a.port;
        resolve();
      });
    });
    this.expiryTimer = setInterval(() => this.expireEndpoints(), 1000);
    this.expiryTimer.unref();
    this.opts.log.info({ address: this.address, tls: !!this.opts.tls }, 'Started OpFlex server');
    return this.port;
  }

  async stop(): Promise<void> {
    clearInterval(this.expiryTimer);
    const server = this.server;
    this.server = undefined;
    for (const s of this.sessions) s.connection.close('server stopped');
    this.sessions.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Replaces the APIC objects the policy is mapped from; sessions get updates for what changed. */
  setApicObjects(objects: Iterable<ApicObject>): void {
    const before = this.universe;
    this.universe = mapApicTree(objects, this.mappingOptions());
    for (const session of this.sessions) this.pushUpdates(session, before);
    this.notify();
  }

  private mappingOptions(): Parameters<typeof mapApicTree>[1] {
    return {
      platform: this.opts.platform,
      ids: this.ids,
      ...(this.opts.bridgeDomainEncaps ? { bridgeDomainEncaps: this.opts.bridgeDomainEncaps } : {}),
    };
  }

  private accept(socket: Socket | TLSSocket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const session: Session = {
      id: this.nextSessionId++,
      remote,
      resolved: new Map(),
      endpointsResolved: new Set(),
      connection: new RpcConnection(socket, {
        ...(this.opts.maxMessageBytes !== undefined
          ? { maxMessageBytes: this.opts.maxMessageBytes }
          : {}),
        handler: (method, params) => this.handle(session, method, params),
        onProtocolError: (reason) => {
          this.stats.protocolErrors++;
          this.opts.log.warn({ session: session.id, remote, reason }, 'Refused OpFlex message');
        },
      }),
    };
    this.sessions.add(session);
    this.stats.sessions++;
    session.connection.on('close', (reason) => {
      this.sessions.delete(session);
      this.opts.log.info(
        { session: session.id, remote, agent: session.identity?.name, reason },
        'Closed OpFlex session',
      );
    });
  }

  private async handle(session: Session, method: string, params: JsonValue): Promise<object> {
    try {
      if (!FirstReadyMethods.has(method) && session.identity === undefined)
        throw new RpcError(ErrorCodes.state, `Unexpected request of type ${method}`);
      switch (method) {
        case 'send_identity':
          return this.identify(session, params);
        case 'policy_resolve':
          return this.resolvePolicy(session, params);
        case 'policy_unresolve':
          for (const item of parse(PolicyUnresolveParams, params, method))
            session.resolved.delete(item.policy_uri);
          return {};
        case 'endpoint_declare':
          return this.declare(session, params);
        case 'endpoint_undeclare': {
          const gone = parse(EndpointUndeclareParams, params, method).map((i) => ({
            uri: i.endpoint_uri,
            subject: i.subject,
          }));
          for (const g of gone) this.endpoints.delete(g.uri);
          this.pushEndpointUpdates(gone);
          if (gone.length > 0) this.notify();
          return {};
        }
        case 'endpoint_resolve':
          return this.resolveEndpoints(session, params);
        case 'endpoint_unresolve':
          for (const item of parse(EndpointResolveParams, params, method))
            session.endpointsResolved.delete(item.endpoint_uri);
          return {};
        case 'state_report':
          parse(StateReportParams, params, method);
          return {};
        default:
          throw new RpcError(ErrorCodes.unsupported, `Unsupported request: ${method}`);
      }
    } catch (err) {
      this.stats.errorsSent++;
      this.opts.log.warn(
        { session: session.id, agent: session.identity?.name, method, err: (err as Error).message },
        'Answered OpFlex request with an error',
      );
      throw err;
    }
  }

  private identify(session: Session, params: JsonValue): object {
    const [identity] = parse(SendIdentityParams, params, 'send_identity');
    session.identity = { name: identity.name, domain: identity.domain };
    this.opts.log.info(
      { session: session.id, agent: identity.name, domain: identity.domain },
      'OpFlex agent identified',
    );
    const roles = Roles.filter((r) => r !== 'policy_element');
    // The agent closes the session unless it finds this server in the list (OpflexPEHandler).
    const peers = [this.address, ...(this.opts.peers ?? []).filter((p) => p !== this.address)];
    return {
      name: this.opts.name ?? 'leaf-simulator',
      domain: identity.domain,
      my_role: roles,
      your_location: identity.name,
      peers: peers.map((p) => ({ role: roles, connectivity_info: p })),
    };
  }

  private resolvePolicy(session: Session, params: JsonValue): object {
    const items = parse(PolicyResolveParams, params, 'policy_resolve');
    const policy: ManagedObject[] = [];
    for (const item of items) {
      if (item.policy_ident !== undefined)
        throw new RpcError(ErrorCodes.unsupported, 'Policy resolution by ident is not supported');
      if (!isModelClass(item.subject))
        throw new RpcError(ErrorCodes.error, `Unknown subject: ${item.subject}`);
    }
    for (const item of items) {
      this.stats.resolves++;
      // Kept even when absent: the object may appear later, and then the agent gets it by update.
      session.resolved.set(item.policy_uri, item.subject);
      policy.push(...subtree(this.universe, item.policy_uri));
    }
    return { policy };
  }

  private declare(session: Session, params: JsonValue): object {
    const items = parse(EndpointDeclareParams, params, 'endpoint_declare');
    const now = Date.now();
    const accepted: RegisteredEndpoint[] = [];
    for (const item of items) {
      const unknown = item.endpoint.find((o) => !isModelClass(o.subject));
      if (unknown) throw new RpcError(ErrorCodes.error, `Unknown subject: ${unknown.subject}`);
      const loop = findContainmentLoop(item.endpoint);
      if (loop)
        throw new RpcError(ErrorCodes.error, `Malformed message: containment loop at ${loop}`);
      const uris = new Set(item.endpoint.map((o) => o.uri));
      // Roots: declared objects whose parent is not declared with them (EprL2Ep, EprL3Ep).
      for (const root of item.endpoint.filter(
        (o) => o.parent_uri === undefined || !uris.has(o.parent_uri),
      )) {
        const objects = item.endpoint.filter(
          (o) => o.uri === root.uri || o.uri.startsWith(root.uri),
        );
        accepted.push({
          uri: root.uri,
          subject: root.subject,
          objects,
          declaredBy: session.identity?.name ?? '',
          expiresAt: now + Number(item.prr) * 1000,
        });
      }
    }
    // All or nothing: a bad item leaves the registry as it was.
    const changed = accepted.filter(
      (ep) => !sameObjects(this.endpoints.get(ep.uri)?.objects ?? [], ep.objects),
    );
    for (const ep of accepted) this.endpoints.set(ep.uri, ep);
    this.stats.declares += accepted.length;
    this.pushEndpointUpdates(changed);
    if (changed.length > 0) this.notify();
    return {};
  }

  private resolveEndpoints(session: Session, params: JsonValue): object {
    const items = parse(EndpointResolveParams, params, 'endpoint_resolve');
    const endpoint: ManagedObject[] = [];
    for (const item of items) {
      if (item.endpoint_ident !== undefined)
        throw new RpcError(ErrorCodes.unsupported, 'Endpoint resolution by ident is not supported');
      if (!isModelClass(item.subject))
        throw new RpcError(ErrorCodes.error, `Unknown subject: ${item.subject}`);
      session.endpointsResolved.add(item.endpoint_uri);
      endpoint.push(...(this.endpoints.get(item.endpoint_uri)?.objects ?? []));
    }
    return { endpoint };
  }

  private expireEndpoints(): void {
    const now = Date.now();
    const expired: { uri: string; subject: string }[] = [];
    for (const [uri, ep] of this.endpoints)
      if (ep.expiresAt <= now) {
        this.endpoints.delete(uri);
        expired.push({ uri, subject: ep.subject });
        this.opts.log.info({ uri, agent: ep.declaredBy }, 'Expired endpoint declaration');
      }
    this.pushEndpointUpdates(expired);
    if (expired.length > 0) this.notify();
  }

  /** endpoint_update to the sessions that resolved these endpoints: what they are now, or their deletion. */
  private pushEndpointUpdates(endpoints: readonly { uri: string; subject: string }[]): void {
    if (endpoints.length === 0) return;
    for (const session of this.sessions) {
      const mine = endpoints.filter((e) => session.endpointsResolved.has(e.uri));
      if (mine.length === 0) continue;
      const replace = mine.flatMap((e) => this.endpoints.get(e.uri)?.objects ?? []);
      const deleted = mine
        .filter((e) => !this.endpoints.has(e.uri))
        .map((e) => ({ subject: e.subject, uri: e.uri }));
      session.connection
        .request('endpoint_update', [{ replace, delete: deleted }])
        .catch((err: Error) =>
          this.opts.log.debug(
            { session: session.id, err: err.message },
            'endpoint_update not acknowledged',
          ),
        );
    }
  }

  private pushUpdates(session: Session, before: ReadonlyMap<string, ManagedObject>): void {
    const update = policyUpdateFor(before, this.universe, session.resolved.keys());
    if (update === undefined) return;
    this.stats.updatesSent++;
    session.connection
      .request('policy_update', [{ ...update, merge_children: [] }])
      .catch((err: Error) =>
        this.opts.log.debug(
          { session: session.id, err: err.message },
          'policy_update not acknowledged',
        ),
      );
  }
}

/**
 * What a session that resolved `resolved` must be told when the universe
 * goes from `before` to `after`: the whole new subtree of every resolved
 * object whose subtree changed (replace: its children lists are the truth),
 * and the objects that left those subtrees. Undefined when nothing changed.
 */
export function policyUpdateFor(
  before: ReadonlyMap<string, ManagedObject>,
  after: ReadonlyMap<string, ManagedObject>,
  resolved: Iterable<string>,
): { replace: ManagedObject[]; delete: { subject: string; uri: string }[] } | undefined {
  const replace: ManagedObject[] = [];
  const deleted: { subject: string; uri: string }[] = [];
  const seen = new Set<string>();
  for (const uri of resolved) {
    const old = subtree(before, uri);
    const now = subtree(after, uri);
    if (sameObjects(old, now)) continue;
    const present = new Set(now.map((o) => o.uri));
    for (const o of now)
      if (!seen.has(o.uri)) {
        seen.add(o.uri);
        replace.push(o);
      }
    for (const o of old)
      if (!present.has(o.uri) && !seen.has(o.uri)) {
        seen.add(o.uri);
        deleted.push({ subject: o.subject, uri: o.uri });
      }
  }
  return replace.length === 0 && deleted.length === 0 ? undefined : { replace, delete: deleted };
}
