// An HTTPS + websocket server that speaks the APIC REST subset in
// agents/controller/apic/openapi/apic-rest.yaml, on top of MoTree.
//
// Behaviour taken from the APIC REST API Configuration Guide:
// - aaaLogin returns a token (also set as the APIC-cookie cookie) valid for
//   refreshTimeoutSeconds; aaaRefresh extends it; afterwards requests get 403
//   "Token was invalid".
// - Certificate-based authentication: the signature is RSA-SHA256 over
//   method + URI path with query + body, verified with the aaaUserCert named
//   by APIC-Certificate-DN. webtokenSession hands out a token for the
//   websocket; signed requests name it with APIC-WebSocket-Session so their
//   subscriptions are delivered on that socket.
// - "Subscribing to query results": `subscription=yes` on a query returns a
//   subscriptionId; events arrive on wss://host/socket<token> as
//   {subscriptionId:[...], imdata:[{<class>:{attributes:{..., status}}}]};
//   subscriptions expire unless refreshed with subscriptionRefresh.json
//   within refresh-timeout seconds (default 60, APIC 4.2+ accepts up to 600).
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { isUnder, MoSchema, parentDn, type Mo } from '../../agents/controller/apic/mo.ts';
import { generateServerPki, type ServerPki } from './certs.ts';
import { ApicError, MoTree, parseQueryOptions, type Change, type QueryOptions } from './tree.ts';
import { apicVersion } from './classes.ts';
import { apicErrors } from './errors.ts';
import { matchesFilter } from './filter.ts';
import { errorXml, imdataXml, parseMoXml } from './xml.ts';

export interface SimulatorOptions {
  /** Users allowed to log in with a password (besides aaaUser objects that carry `pwd`). */
  readonly users?: Readonly<Record<string, string>>;
  /** Token lifetime; tests shorten it to exercise aaaRefresh. */
  readonly tokenTimeoutSeconds?: number;
  /** Upper bound for refresh-timeout on subscriptions. */
  readonly maxSubscriptionTimeoutSeconds?: number;
  /** Reuse a PKI (several simulators sharing one CA, or a restart). */
  readonly pki?: ServerPki;
}

export interface StartedSimulator {
  readonly url: string;
  readonly port: number;
  readonly caPem: string;
  readonly caPath: string;
  stop(): Promise<void>;
}

export const FaultsSchema = z.object({
  /** Added delay per request, in ms. */
  latencyMs: z.number().int().min(0).optional(),
  /** The next N requests (any path but /_sim) answer 503. */
  fail503: z.number().int().min(0).optional(),
  /** The next N requests answer 429. */
  fail429: z.number().int().min(0).optional(),
  /** The next N aaaLogin calls fail with 401. */
  loginFailures: z.number().int().min(0).optional(),
  /** Close every websocket now. */
  dropWebsockets: z.boolean().optional(),
  /** Restart now: drop all connections, sessions and subscriptions; optionally forget the MO tree; stay down for downMs. */
  restart: z
    .object({ keepState: z.boolean(), downMs: z.number().int().min(0).max(60_000).optional() })
    .optional(),
});
export type Faults = z.infer<typeof FaultsSchema>;

interface Session {
  readonly token: string;
  readonly user: string;
  expiresAt: number;
  readonly sockets: Set<WebSocket>;
}

interface Subscription {
  readonly id: string;
  readonly token: string;
  readonly kind: 'mo' | 'class';
  readonly target: string;
  readonly opts: QueryOptions;
  readonly timeoutMs: number;
  expiresAt: number;
}

export interface SimulatorStats {
  requests: number;
  gets: number;
  posts: number;
  deletes: number;
  bytesIn: number;
  bytesOut: number;
}

const LoginBody = z.object({
  aaaUser: z.object({ attributes: z.object({ name: z.string(), pwd: z.string() }) }),
});

function errorBody(code: string, text: string): string {
  return JSON.stringify({ totalCount: '1', imdata: [{ error: { attributes: { code, text } } }] });
}

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

export class ApicSimulator {
  readonly tree = new MoTree();
  readonly stats: SimulatorStats = {
    requests: 0,
    gets: 0,
    posts: 0,
    deletes: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  private readonly users: Map<string, string>;
  private readonly sessions = new Map<string, Session>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly faults = { latencyMs: 0, fail503: 0, fail429: 0, loginFailures: 0 };
  private readonly tokenTimeoutSeconds: number;
  private readonly maxSubTimeout: number;
  private pki: ServerPki | undefined;
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private readonly sockets = new Set<Socket>();
  private port = 0;
  private host = '127.0.0.1';
  private subCounter = 0n;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SimulatorOptions = {}) {
    this.users = new Map(Object.entries(options.users ?? { admin: 'noir0123' }));
    this.tokenTimeoutSeconds = options.tokenTimeoutSeconds ?? 600;
    this.maxSubTimeout = options.maxSubscriptionTimeoutSeconds ?? 600;
    this.pki = options.pki;
  }

  /** Starts listening; port 0 picks a free port. */
  async start(opts: { port?: number; host?: string } = {}): Promise<StartedSimulator> {
    this.host = opts.host ?? '127.0.0.1';
    // Its certificate names the address it listens on, so clients verify TLS as against a real APIC.
    this.pki ??= generateServerPki('apic-simulator', this.host === '127.0.0.1' ? [] : [this.host]);
    await this.listen(opts.port ?? 0, this.host);
    this.expiryTimer = setInterval(() => this.expire(), 250);
    this.expiryTimer.unref();
    const pki = this.pki;
    return {
      url: `https://${this.host}:${this.port}`,
      port: this.port,
      caPem: pki.caPem,
      caPath: pki.caPath,
      stop: () => this.stop(),
    };
  }

  get serverPki(): ServerPki | undefined {
    return this.pki;
  }

  private listen(port: number, host: string): Promise<void> {
    const pki = this.pki as ServerPki;
    const server = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
      void this.handle(req, res);
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => this.upgrade(wss, req, socket as Socket, head));
    this.server = server;
    this.wss = wss;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const addr = server.address();
        if (addr !== null && typeof addr === 'object') this.port = addr.port;
        resolve();
      });
    });
  }

  private async closeServer(): Promise<void> {
    for (const c of this.wss?.clients ?? []) c.terminate();
    this.wss?.close();
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  async stop(): Promise<void> {
    if (this.expiryTimer !== undefined) clearInterval(this.expiryTimer);
    await this.closeServer();
    this.sessions.clear();
    this.subscriptions.clear();
  }

  /** Adds a user who can log in with a password. */
  addUser(name: string, pwd: string): void {
    this.users.set(name, pwd);
  }

  /** Registers a user certificate the way an admin would: aaaUser + aaaUserCert with the PEM in `data`. */
  registerCertificate(user: string, certName: string, certPem: string): void {
    this.tree.post('uni/userext', {
      aaaUser: {
        attributes: { dn: `uni/userext/user-${user}`, name: user },
        children: [{ aaaUserCert: { attributes: { name: certName, data: certPem } } }],
      },
    });
  }

  /** Applies a fault (also reachable as POST /_sim/faults). */
  async inject(f: Faults): Promise<void> {
    if (f.latencyMs !== undefined) this.faults.latencyMs = f.latencyMs;
    if (f.fail503 !== undefined) this.faults.fail503 = f.fail503;
    if (f.fail429 !== undefined) this.faults.fail429 = f.fail429;
    if (f.loginFailures !== undefined) this.faults.loginFailures = f.loginFailures;
    if (f.dropWebsockets === true) {
      for (const c of this.wss?.clients ?? []) c.terminate();
    }
    if (f.restart !== undefined) {
      const keep = f.restart.keepState;
      await this.closeServer();
      this.sessions.clear();
      this.subscriptions.clear();
      if (!keep) this.tree.reset();
      if ((f.restart.downMs ?? 0) > 0) await new Promise((r) => setTimeout(r, f.restart?.downMs));
      await this.listen(this.port, this.host);
    }
  }

  /** Applies an MO change as another APIC user would (GUI, script), with notifications. */
  externalPost(dn: string, mo: Mo): void {
    this.notify(this.tree.post(dn, mo));
  }

  externalDelete(dn: string): void {
    this.notify(this.tree.delete(dn));
  }

  resetStats(): void {
    Object.assign(this.stats, {
      requests: 0,
      gets: 0,
      posts: 0,
      deletes: 0,
      bytesIn: 0,
      bytesOut: 0,
    });
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, s] of this.subscriptions) if (s.expiresAt < now) this.subscriptions.delete(id);
    for (const [t, s] of this.sessions) {
      if (s.expiresAt < now) {
        for (const ws of s.sockets) ws.close(1000, 'session expired');
        this.sessions.delete(t);
      }
    }
  }

  private upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Socket, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const token = path.startsWith('/socket')
      ? decodeURIComponent(path.slice('/socket'.length))
      : '';
    const session = this.sessions.get(token);
    if (session === undefined || session.expiresAt < Date.now()) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      session.sockets.add(ws);
      ws.on('close', () => session.sockets.delete(ws));
      ws.on('error', () => session.sockets.delete(ws));
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const rawUrl = req.url ?? '/';
    const url = new URL(rawUrl, 'https://apic.invalid');
    const send = (status: number, text: string, headers: Record<string, string> = {}) => {
      this.stats.bytesOut += Buffer.byteLength(text);
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(text);
    };
    if (url.pathname.startsWith('/_sim/')) {
      await this.handleAdmin(req.method ?? 'GET', url.pathname, body, send);
      return;
    }
    this.stats.requests++;
    this.stats.bytesIn += body.length;
    if (req.method === 'GET') this.stats.gets++;
    else if (req.method === 'POST') this.stats.posts++;
    else if (req.method === 'DELETE') this.stats.deletes++;
    if (this.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, this.faults.latencyMs));
    if (this.faults.fail503 > 0) {
      this.faults.fail503--;
      send(503, errorBody('503', 'Service Unavailable (simulated)'));
      return;
    }
    if (this.faults.fail429 > 0) {
      this.faults.fail429--;
      send(429, errorBody('429', 'Too Many Requests (simulated)'), { 'Retry-After': '0' });
      return;
    }
    // `.xml` requests are answered in XML, errors included, as the APIC does.
    const xml = url.pathname.endsWith('.xml');
    const sendXml = (status: number, text: string, headers: Record<string, string> = {}) =>
      send(status, text, { 'Content-Type': 'text/xml', ...headers });
    try {
      const out = this.route(req, url, rawUrl, body);
      if (xml) {
        const r = out.body as { totalCount?: string; imdata?: Mo[] };
        sendXml(200, imdataXml(r.totalCount ?? '0', r.imdata ?? []), out.headers ?? {});
      } else send(200, JSON.stringify(out.body), out.headers ?? {});
      if (out.changes !== undefined) this.notify(out.changes);
    } catch (e) {
      const [status, code, text] =
        e instanceof ApicError
          ? [e.httpStatus, e.code, e.message]
          : [500, '500', e instanceof Error ? e.message : String(e)];
      if (xml) sendXml(status, errorXml(code, text));
      else send(status, errorBody(code, text));
    }
  }

  private async handleAdmin(
    method: string,
    path: string,
    body: Buffer,
    send: (s: number, t: string) => void,
  ): Promise<void> {
    if (method === 'POST' && path === '/_sim/faults') {
      const parsed = FaultsSchema.safeParse(JSON.parse(body.toString('utf8') || '{}'));
      if (!parsed.success) {
        send(400, errorBody('400', parsed.error.message));
        return;
      }
      // Reply before a restart tears the connection down.
      send(200, JSON.stringify({ ok: true }));
      await this.inject(parsed.data);
      return;
    }
    if (method === 'GET' && path === '/_sim/stats') {
      send(200, JSON.stringify(this.stats));
      return;
    }
    send(404, errorBody('404', `unknown admin path ${path}`));
  }

  private route(
    req: IncomingMessage,
    url: URL,
    rawUrl: string,
    body: Buffer,
  ): { body: unknown; headers?: Record<string, string>; changes?: Change[] } {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (method === 'POST' && path === '/api/aaaLogin.json') return this.login(body);
    const auth = this.authenticate(req, rawUrl, body);
    if (path === '/api/aaaRefresh.json' && method === 'GET') {
      if (auth.session === undefined)
        throw new ApicError(403, '403', 'aaaRefresh needs a session token');
      auth.session.expiresAt = Date.now() + this.tokenTimeoutSeconds * 1000;
      return {
        body: this.loginBody(auth.session),
        headers: { 'Set-Cookie': `APIC-cookie=${auth.session.token}; path=/; secure` },
      };
    }
    if (path === '/api/aaaLogout.json' && method === 'POST') {
      if (auth.session !== undefined) {
        for (const ws of auth.session.sockets) ws.close(1000, 'logout');
        this.sessions.delete(auth.session.token);
      }
      return { body: { totalCount: '0', imdata: [] } };
    }
    if (path === '/api/webtokenSession.json' && method === 'GET') {
      const session = this.newSession(auth.user);
      return {
        body: {
          totalCount: '1',
          imdata: [
            {
              webtokenSession: {
                attributes: {
                  token: session.token,
                  refreshTimeoutSeconds: String(this.tokenTimeoutSeconds),
                },
              },
            },
          ],
        },
      };
    }
    if (path === '/api/subscriptionRefresh.json' && method === 'GET') {
      const id = url.searchParams.get('id') ?? '';
      const sub = this.subscriptions.get(id);
      if (sub === undefined)
        throw new ApicError(400, '400', `subscription ${id} does not exist or has expired`);
      sub.expiresAt = Date.now() + sub.timeoutMs;
      return { body: { totalCount: '0', imdata: [] } };
    }
    const m = /^\/api\/(?:node\/)?(mo|class)\/(.*)\.(?:json|xml)$/.exec(path);
    if (m === null) throw new ApicError(404, '404', `unknown path ${path}`);
    const kind = m[1] as 'mo' | 'class';
    const target = decodeURIComponent(m[2] ?? '');
    if (method === 'GET') {
      const opts = parseQueryOptions(url.searchParams);
      const r =
        kind === 'mo' ? this.tree.queryMo(target, opts) : this.tree.queryClass(target, opts);
      const out: { totalCount: string; subscriptionId?: string; imdata: Mo[] } = {
        totalCount: String(r.total),
        imdata: r.imdata,
      };
      if (url.searchParams.get('subscription') === 'yes') {
        out.subscriptionId = this.subscribe(
          auth.session,
          kind,
          target,
          opts,
          url.searchParams.get('refresh-timeout'),
        );
      }
      return { body: out };
    }
    if (kind !== 'mo') throw new ApicError(400, '400', `${method} is not allowed on class queries`);
    // rsp-subtree=modified: the answer lists the objects the write changed, with their status.
    const answer = (changes: Change[]) => {
      const imdata = url.searchParams.get('rsp-subtree') === 'modified' ? changedTree(changes) : [];
      return { body: { totalCount: String(imdata.length), imdata }, changes };
    };
    if (method === 'POST') {
      const text = body.toString('utf8');
      const mo = path.endsWith('.xml') ? parseMoXml(text) : parseMoJson(text);
      return answer(this.tree.post(target, mo));
    }
    if (method === 'DELETE') return answer(this.tree.delete(target));
    throw new ApicError(400, '400', `method ${method} not supported`);
  }

  private newSession(user: string): Session {
    const session: Session = {
      token: randomBytes(24).toString('base64url'),
      user,
      expiresAt: Date.now() + this.tokenTimeoutSeconds * 1000,
      sockets: new Set(),
    };
    this.sessions.set(session.token, session);
    return session;
  }

  private loginBody(session: Session) {
    return {
      totalCount: '1',
      imdata: [
        {
          aaaLogin: {
            attributes: {
              token: session.token,
              refreshTimeoutSeconds: String(this.tokenTimeoutSeconds),
              maximumLifetimeSeconds: '86400',
              userName: session.user,
              version: apicVersion,
            },
          },
        },
      ],
    };
  }

  private login(body: Buffer): { body: unknown; headers: Record<string, string> } {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new ApicError(400, '400', 'Unable to parse the login request');
    }
    const login = LoginBody.safeParse(parsed);
    if (!login.success) throw new ApicError(400, '400', 'aaaLogin needs aaaUser name and pwd');
    const { name, pwd } = login.data.aaaUser.attributes;
    const stored = this.users.get(name) ?? this.tree.get(`uni/userext/user-${name}`)?.attrs.pwd;
    if (this.faults.loginFailures > 0) {
      this.faults.loginFailures--;
      throw new ApicError(401, '401', 'Username or password or domain is incorrect');
    }
    if (stored === undefined || stored === '' || stored !== pwd) {
      throw new ApicError(401, '401', 'Username or password or domain is incorrect');
    }
    const session = this.newSession(name);
    return {
      body: this.loginBody(session),
      headers: { 'Set-Cookie': `APIC-cookie=${session.token}; path=/; secure` },
    };
  }

  private authenticate(
    req: IncomingMessage,
    rawUrl: string,
    body: Buffer,
  ): { user: string; session?: Session } {
    const cookies = parseCookies(req.headers.cookie);
    const token = cookies.get('APIC-cookie') ?? cookies.get('APIC-Cookie');
    if (token !== undefined) {
      const s = this.sessions.get(token);
      if (s === undefined || s.expiresAt < Date.now()) {
        throw new ApicError(403, '403', 'Token was invalid (Error: Token timeout)');
      }
      return { user: s.user, session: s };
    }
    const sig = cookies.get('APIC-Request-Signature');
    if (sig !== undefined) {
      const algo = cookies.get('APIC-Certificate-Algorithm');
      const certDn = cookies.get('APIC-Certificate-DN') ?? '';
      if (algo !== 'v1.0')
        throw new ApicError(403, '403', `Unsupported certificate algorithm ${algo ?? ''}`);
      if (cookies.get('APIC-Certificate-Fingerprint') !== 'fingerprint') {
        throw new ApicError(403, '403', 'APIC-Certificate-Fingerprint must be "fingerprint"');
      }
      const cert = this.tree.get(certDn);
      const pem = cert?.cls === 'aaaUserCert' ? cert.attrs.data : undefined;
      if (pem === undefined || pem === '')
        throw new ApicError(403, '403', `Certificate ${certDn} not found`);
      const payload = Buffer.concat([Buffer.from((req.method ?? 'GET') + rawUrl), body]);
      let ok: boolean;
      try {
        ok = verify('sha256', payload, createPublicKey(pem), Buffer.from(sig, 'base64'));
      } catch {
        ok = false;
      }
      if (!ok) throw new ApicError(403, '403', 'Signature verification failed');
      const user = /^uni\/userext\/user-([^/]+)\//.exec(certDn)?.[1] ?? '';
      const wsToken = cookies.get('APIC-WebSocket-Session');
      const session = wsToken !== undefined ? this.sessions.get(wsToken) : undefined;
      return session !== undefined ? { user, session } : { user };
    }
    throw new ApicError(
      403,
      '403',
      'Need a valid webtoken cookie (named APIC-Cookie) or a signed request with signature in the cookie.',
    );
  }

  private subscribe(
    session: Session | undefined,
    kind: 'mo' | 'class',
    target: string,
    opts: QueryOptions,
    refreshTimeout: string | null,
  ): string {
    if (session === undefined) {
      throw new ApicError(
        400,
        '400',
        'Subscriptions need a session: log in, or name a webtokenSession with APIC-WebSocket-Session',
      );
    }
    const secs = refreshTimeout === null ? 60 : Number(refreshTimeout);
    if (!Number.isInteger(secs) || secs < 1 || secs > this.maxSubTimeout) {
      throw new ApicError(
        400,
        '400',
        `refresh-timeout must be between 1 and ${this.maxSubTimeout}`,
      );
    }
    this.subCounter++;
    // Real subscription ids are large decimal numbers; keep that shape.
    const id = (72057594037927936n + this.subCounter).toString();
    this.subscriptions.set(id, {
      id,
      token: session.token,
      kind,
      target,
      opts,
      timeoutMs: secs * 1000,
      expiresAt: Date.now() + secs * 1000,
    });
    return id;
  }

  private classAt(dn: string, batch: ReadonlyMap<string, string>): string | undefined {
    return this.tree.get(dn)?.cls ?? batch.get(dn);
  }

  /** Whether a change is covered by a subscription's query (targets, or their response subtree). */
  private covers(sub: Subscription, ch: Change, batch: ReadonlyMap<string, string>): boolean {
    const o = sub.opts;
    const attrMatch =
      o.filter === undefined ||
      (ch.before !== undefined && matchesFilter(o.filter, ch.cls, ch.before)) ||
      (ch.after !== undefined && matchesFilter(o.filter, ch.cls, ch.after));
    const isTarget = (dn: string, cls: string): boolean => {
      if (sub.kind === 'mo') {
        if (o.queryTarget === 'self') return dn === sub.target;
        if (o.queryTarget === 'children') return parentDn(dn) === sub.target;
        return isUnder(dn, sub.target);
      }
      if (o.queryTarget === 'self') return cls === sub.target;
      if (o.queryTarget === 'children') return this.classAt(parentDn(dn), batch) === sub.target;
      for (let d = dn; d !== ''; d = parentDn(d))
        if (this.classAt(d, batch) === sub.target) return true;
      return false;
    };
    const tsc = o.targetSubtreeClass;
    if ((tsc === undefined || tsc.has(ch.cls)) && attrMatch && isTarget(ch.dn, ch.cls)) return true;
    if (o.rspSubtree === 'no') return false;
    if (o.rspSubtreeClass !== undefined && !o.rspSubtreeClass.has(ch.cls)) return false;
    // Objects inside the response subtree of a target also produce events.
    let d = parentDn(ch.dn);
    for (let depth = 1; d !== ''; depth++, d = parentDn(d)) {
      if (o.rspSubtree === 'children' && depth > 1) return false;
      const cls = this.classAt(d, batch);
      if (cls !== undefined && isTarget(d, cls)) return true;
    }
    return false;
  }

  private notify(changes: readonly Change[]): void {
    if (changes.length === 0 || this.subscriptions.size === 0) return;
    const batch = new Map(changes.map((c) => [c.dn, c.cls]));
    const now = Date.now();
    for (const ch of changes) {
      const bySession = new Map<string, string[]>();
      for (const sub of this.subscriptions.values()) {
        if (sub.expiresAt < now || !this.covers(sub, ch, batch)) continue;
        const ids = bySession.get(sub.token) ?? [];
        ids.push(sub.id);
        bySession.set(sub.token, ids);
      }
      for (const [token, ids] of bySession) {
        const session = this.sessions.get(token);
        if (session === undefined) continue;
        const msg = JSON.stringify({
          subscriptionId: ids,
          imdata: [{ [ch.cls]: { attributes: { ...ch.attrs, status: ch.status } } }],
        });
        for (const ws of session.sockets) ws.send(msg);
      }
    }
  }
}

/**
 * Parses a JSON request body. JSON numbers as attribute values get the
 * answer a real APIC gives: its parser takes the first digit for an opening
 * quote, so `"prio": 32768, ...` is the unknown value `2768` and a number
 * that ends the object is an incomplete value (cisco.aci's aci_rest
 * integration test asserts both).
 */
function parseMoJson(text: string): Mo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw apicErrors.jsonParse();
  }
  const numberAttr = !hasNonStringAttribute(parsed)
    ? null
    : /"([A-Za-z0-9]+)"\s*:\s*(-?\d[\d.eE+-]*)\s*([,}])/.exec(text);
  if (numberAttr !== null) {
    const [, prop, digits, next] = numberAttr as unknown as [string, string, string, string];
    if (next !== ',') throw apicErrors.jsonParse();
    const before = text.slice(0, numberAttr.index);
    const cls =
      [...before.matchAll(/"([a-z][A-Za-z0-9]+)"\s*:\s*\{\s*"attributes"/g)].pop()?.[1] ?? '';
    throw new ApicError(
      400,
      '120',
      `unknown property value ${digits.slice(1)}, , name ${prop}, class ${cls} [(Dn0)] Dn0=, `,
    );
  }
  const mo = MoSchema.safeParse(parsed);
  if (!mo.success) {
    const root =
      parsed !== null && typeof parsed === 'object' ? Object.values(parsed)[0] : undefined;
    if (
      root !== undefined &&
      (root === null || typeof root !== 'object' || !('attributes' in root))
    )
      throw apicErrors.attributesMissing();
    throw new ApicError(400, '400', `Malformed MO: ${mo.error.issues[0]?.message ?? 'invalid'}`);
  }
  return mo.data;
}

function hasNonStringAttribute(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasNonStringAttribute);
  if (v === null || typeof v !== 'object') return false;
  for (const [k, x] of Object.entries(v)) {
    if (k === 'attributes' && x !== null && typeof x === 'object') {
      if (Object.values(x).some((a) => typeof a !== 'string')) return true;
    } else if (hasNonStringAttribute(x)) return true;
  }
  return false;
}

/** The changes of one write as MO trees (children under their changed parents), each with its status. */
function changedTree(changes: readonly Change[]): Mo[] {
  const byDn = new Map<
    string,
    { cls: string; attributes: Record<string, string>; children: Mo[] }
  >();
  for (const c of changes) {
    const attributes =
      c.status === 'created' ? { ...c.attrs, status: 'created' } : { ...c.attrs, status: c.status };
    byDn.set(c.dn, { cls: c.cls, attributes, children: [] });
  }
  const roots: Mo[] = [];
  // Deletions list children before parents; nest from the deepest DN up.
  const dns = [...byDn.keys()].sort((a, b) => b.length - a.length);
  const built = new Map<string, Mo>();
  for (const dn of dns.reverse()) {
    const n = byDn.get(dn);
    if (n === undefined) continue;
    const mo: Mo = { [n.cls]: { attributes: n.attributes, children: n.children } };
    built.set(dn, mo);
  }
  for (const [dn, mo] of built) {
    const parent = byDn.get(parentDn(dn));
    if (parent !== undefined) parent.children.push(mo);
    else roots.push(mo);
  }
  for (const mo of built.values()) {
    const body = Object.values(mo)[0];
    if (body !== undefined && (body.children ?? []).length === 0) delete body.children;
  }
  return roots;
}

/** Fingerprint shown by the CLI so a user can check which CA they trust. */
export function caFingerprint(caPem: string): string {
  const der = Buffer.from(caPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return createHash('sha256').update(der).digest('hex').match(/../g)?.join(':') ?? '';
}
