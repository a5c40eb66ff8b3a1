// REST client for Cisco APIC: authentication (password or certificate
// signature), failover across APIC hosts, TLS verification, per-request
// timeouts and retries. The websocket side lives in subscriptions.ts.
//
// Retry policy: 503 and 429 (APIC busy / throttling) and connection resets
// are retried with exponential backoff and jitter; other 4xx are the
// caller's fault and are never retried. A connection error (refused, reset,
// timeout, TLS) moves to the next APIC host, since an APIC cluster serves
// the same tree from every member.
import { Agent, request as httpsRequest } from 'node:https';
import { pino, type Logger } from 'pino';
import { backoffDelay, sleep, type BackoffOptions } from '../../../lib/kube/backoff.ts';
import {
  loadSignatureIdentity,
  signatureCookie,
  signRequest,
  type SignatureIdentity,
} from './auth.ts';
import {
  ErrorResponseSchema,
  ImdataResponseSchema,
  LoginResponseSchema,
  WebtokenResponseSchema,
  type ImdataResponse,
  type Mo,
} from './mo.ts';

export interface ApicClientOptions {
  /** APIC addresses: `https://host:port`, `host:port` or `host`. */
  readonly hosts: readonly string[];
  readonly user: string;
  /** Password authentication (aaaLogin). */
  readonly password?: string;
  /** Certificate authentication: PEM private key and the aaaUserCert name. */
  readonly privateKeyPem?: string;
  readonly certName?: string;
  /** PEM CA bundle the APIC certificate must chain to; Node's default roots when absent. */
  readonly caPem?: string;
  /** Explicit opt-in to skip TLS verification; logs a warning. */
  readonly insecureSkipTlsVerify?: boolean;
  /** Per-request timeout (default 30 s). */
  readonly timeoutMs?: number;
  /** Retries of 503/429/connection errors (default 5). */
  readonly maxRetries?: number;
  readonly backoff?: BackoffOptions;
  readonly logger?: Logger;
  /**
   * Called synchronously before each attempt of a write (POST, DELETE) is
   * sent; throws to refuse it. The controller's leader passes its term's
   * check, so a leader resumed past its lease writes nothing to the APIC.
   */
  readonly writeGuard?: () => void;
}

export type QueryParams = Readonly<Record<string, string | number | undefined>>;

/** The APIC answered with an error object. */
export class ApicRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly text: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`APIC ${method} ${path} failed: HTTP ${status} code ${code}: ${text}`);
    this.name = 'ApicRequestError';
  }
}

/** No APIC host could be reached (refused, reset, timeout). */
export class ApicConnectionError extends Error {
  constructor(
    message: string,
    readonly causes: readonly Error[],
  ) {
    super(message);
    this.name = 'ApicConnectionError';
  }
}

/** The APIC's certificate did not verify against the configured CA bundle. */
export class ApicTlsError extends ApicConnectionError {
  constructor(
    readonly host: string,
    readonly tlsCode: string,
    causes: readonly Error[],
  ) {
    super(
      `TLS verification of APIC ${host} failed (${tlsCode}): its certificate does not chain to the configured CA bundle ` +
        `or does not match the host name; set caPem to the APIC's CA, or insecureSkipTlsVerify to opt out`,
      causes,
    );
    this.name = 'ApicTlsError';
  }
}

const tlsErrorCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);

interface RawResponse {
  readonly status: number;
  readonly body: string;
}

function errCode(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e
    ? String((e as { code: unknown }).code)
    : '';
}

function normalizeHost(h: string): string {
  const withScheme = /^https?:\/\//.test(h) ? h : `https://${h}`;
  return withScheme.replace(/\/+$/, '');
}

export function encodeQuery(params: QueryParams | undefined): string {
  if (params === undefined) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    // The APIC expects filter syntax characters (parentheses, commas, quotes) verbatim-ish; encodeURIComponent keeps it valid.
    parts.push(`${k}=${encodeURIComponent(String(v))}`);
  }
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** Encodes a DN for a URL path: slashes stay (they are the MIT path), brackets and the rest are escaped. */
export function dnPath(dn: string): string {
  return dn
    .split('/')
    .map((p) => encodeURIComponent(p))
    .join('/');
}

export class ApicClient {
  readonly log: Logger;
  private readonly hosts: readonly string[];
  private hostIndex = 0;
  private readonly agent: Agent;
  private readonly identity: SignatureIdentity | undefined;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly backoff: BackoffOptions;
  private token: string | undefined;
  private tokenHost: string | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private loginInFlight: Promise<void> | undefined;
  private closed = false;
  /** Counts requests sent on the wire, for tests and the benchmark. */
  readonly counters = { requests: 0, bytesSent: 0, bytesReceived: 0, retries: 0, failovers: 0 };

  constructor(private readonly options: ApicClientOptions) {
    if (options.hosts.length === 0) throw new Error('ApicClient needs at least one APIC host');
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'apic-client' });
    this.hosts = options.hosts.map(normalizeHost);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetries = options.maxRetries ?? 5;
    this.backoff = options.backoff ?? { initialMs: 200, maxMs: 10_000 };
    if (options.password === undefined && options.privateKeyPem === undefined) {
      throw new Error('ApicClient needs a password or a private key');
    }
    if (options.privateKeyPem !== undefined) {
      if (options.certName === undefined)
        throw new Error('certificate authentication needs certName');
      this.identity = loadSignatureIdentity(options.user, options.certName, options.privateKeyPem);
    }
    if (options.insecureSkipTlsVerify === true) {
      this.log.warn(
        { hosts: this.hosts },
        'TLS verification of the APIC is disabled by configuration (insecureSkipTlsVerify)',
      );
    }
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 8,
      ...(options.caPem !== undefined ? { ca: options.caPem } : {}),
      rejectUnauthorized: options.insecureSkipTlsVerify !== true,
    });
  }

  get currentHost(): string {
    return this.hosts[this.hostIndex] as string;
  }

  /** TLS settings for the websocket, same trust as HTTP. */
  get tlsOptions(): { ca?: string; rejectUnauthorized: boolean } {
    return {
      ...(this.options.caPem !== undefined ? { ca: this.options.caPem } : {}),
      rejectUnauthorized: this.options.insecureSkipTlsVerify !== true,
    };
  }

  /** Token for /socket<token>: the login token, or the webtokenSession token with certificates. */
  get websocketToken(): string | undefined {
    return this.token;
  }

  /** Host the current token belongs to. */
  get sessionHost(): string | undefined {
    return this.tokenHost;
  }

  /** Logs in (or, with a certificate, obtains a websocket token) on the current host, failing over as needed. */
  async login(): Promise<void> {
    if (this.loginInFlight !== undefined) return this.loginInFlight;
    this.loginInFlight = this.doLogin().finally(() => {
      this.loginInFlight = undefined;
    });
    return this.loginInFlight;
  }

  private async doLogin(): Promise<void> {
    const res =
      this.identity === undefined
        ? await this.send(
            'POST',
            '/api/aaaLogin.json',
            JSON.stringify({
              aaaUser: { attributes: { name: this.options.user, pwd: this.options.password } },
            }),
            { auth: false },
          )
        : await this.send('GET', '/api/webtokenSession.json', '', { auth: true });
    const { token, refreshTimeoutSeconds } = this.parseToken(res.body);
    this.token = token;
    this.tokenHost = this.currentHost;
    this.log.info(
      { host: this.currentHost, auth: this.identity === undefined ? 'password' : 'certificate' },
      'Logged in to APIC',
    );
    this.scheduleRefresh(refreshTimeoutSeconds);
  }

  private parseToken(body: string): { token: string; refreshTimeoutSeconds: number } {
    const json: unknown = JSON.parse(body);
    const login = LoginResponseSchema.safeParse(json);
    if (login.success) {
      const a = login.data.imdata[0]?.aaaLogin.attributes;
      if (a !== undefined)
        return { token: a.token, refreshTimeoutSeconds: Number(a.refreshTimeoutSeconds) };
    }
    const web = WebtokenResponseSchema.safeParse(json);
    if (web.success) {
      const a = web.data.imdata[0]?.webtokenSession.attributes;
      if (a !== undefined)
        return { token: a.token, refreshTimeoutSeconds: Number(a.refreshTimeoutSeconds) };
    }
    throw new Error('APIC login response carried no token');
  }

  private scheduleRefresh(timeoutSeconds: number): void {
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || this.closed) return;
    // Refresh at two thirds of the lifetime: late enough to be cheap, early enough to survive one slow retry.
    const ms = Math.max(500, (timeoutSeconds * 1000 * 2) / 3);
    this.refreshTimer = setTimeout(() => void this.refresh(), ms);
    this.refreshTimer.unref();
  }

  /** aaaRefresh; falls back to a fresh login when the token is gone. */
  async refresh(): Promise<void> {
    try {
      const res = await this.send('GET', '/api/aaaRefresh.json', '', { auth: true, retries: 1 });
      const { token, refreshTimeoutSeconds } = this.parseToken(res.body);
      this.token = token;
      this.scheduleRefresh(refreshTimeoutSeconds);
      this.log.debug({ host: this.currentHost }, 'Refreshed APIC token');
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'APIC token refresh failed, logging in again');
      this.token = undefined;
      try {
        await this.login();
      } catch (e2) {
        this.log.error({ err: (e2 as Error).message }, 'APIC login after refresh failure failed');
        this.scheduleRefresh(5);
      }
    }
  }

  async getMo(dn: string, query?: QueryParams): Promise<ImdataResponse> {
    return this.query(`/api/mo/${dnPath(dn)}.json${encodeQuery(query)}`);
  }

  async getClass(cls: string, query?: QueryParams): Promise<ImdataResponse> {
    return this.query(`/api/class/${cls}.json${encodeQuery(query)}`);
  }

  /** POST an MO tree to /api/mo/{dn}.json (create or modify; `status` attributes as the APIC defines). */
  async post(dn: string, mo: Mo): Promise<void> {
    await this.call('POST', `/api/mo/${dnPath(dn)}.json`, JSON.stringify(mo));
  }

  async delete(dn: string): Promise<void> {
    await this.call('DELETE', `/api/mo/${dnPath(dn)}.json`, '');
  }

  async subscriptionRefresh(id: string): Promise<void> {
    await this.call('GET', `/api/subscriptionRefresh.json?id=${encodeURIComponent(id)}`, '', 1);
  }

  async logout(): Promise<void> {
    if (this.token !== undefined && this.identity === undefined) {
      await this.call(
        'POST',
        '/api/aaaLogout.json',
        JSON.stringify({ aaaUser: { attributes: { name: this.options.user } } }),
        0,
      ).catch(() => undefined);
    }
    this.token = undefined;
  }

  close(): void {
    this.closed = true;
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    this.agent.destroy();
  }

  async query(pathWithQuery: string): Promise<ImdataResponse> {
    const res = await this.call('GET', pathWithQuery, '');
    const parsed = ImdataResponseSchema.safeParse(JSON.parse(res.body));
    if (!parsed.success)
      throw new Error(
        `APIC GET ${pathWithQuery.split('?')[0]} returned an unexpected body: ${parsed.error.issues[0]?.message ?? ''}`,
      );
    return parsed.data;
  }

  /** Authenticated call: logs in first if needed, and once more when the APIC says the token is invalid. */
  private async call(
    method: string,
    pathWithQuery: string,
    body: string,
    retries?: number,
  ): Promise<RawResponse> {
    try {
      return await this.send(method, pathWithQuery, body, { auth: true, retries });
    } catch (e) {
      const loginFailed = e instanceof ApicRequestError && e.path === '/api/aaaLogin.json';
      if (
        e instanceof ApicRequestError &&
        (e.status === 401 || e.status === 403) &&
        this.identity === undefined &&
        !loginFailed
      ) {
        this.log.info({ status: e.status }, 'APIC rejected the session token, logging in again');
        this.token = undefined;
        return this.send(method, pathWithQuery, body, { auth: true, retries });
      }
      throw e;
    }
  }

  /** One logical request with retries and failover; `auth` adds the token or signature cookies. */
  private async send(
    method: string,
    pathWithQuery: string,
    body: string,
    opts: { auth: boolean; retries?: number | undefined },
  ): Promise<RawResponse> {
    const retries = opts.retries ?? this.maxRetries;
    const causes: Error[] = [];
    for (let attempt = 0; ; attempt++) {
      let allTls = true;
      let lastTls: { host: string; code: string } | undefined;
      let retryable = false;
      // One pass over the hosts, starting with the current one.
      for (let h = 0; h < this.hosts.length; h++) {
        const host = this.currentHost;
        // Outside the try: a refused write is not a connection error to retry or fail over on.
        if (opts.auth && method !== 'GET') this.options.writeGuard?.();
        try {
          if (
            opts.auth &&
            this.identity === undefined &&
            (this.token === undefined || this.tokenHost !== host)
          ) {
            // Tokens are per APIC here; after a failover, log in on the new host inside the same pass.
            await this.loginOn(host);
          }
          const res = await this.once(host, method, pathWithQuery, body, opts.auth);
          if (res.status >= 200 && res.status < 300) return res;
          const err = this.toRequestError(res, method, pathWithQuery);
          if (res.status === 503 || res.status === 429) {
            causes.push(err);
            retryable = true;
            allTls = false;
            break;
          }
          throw err;
        } catch (e) {
          if (e instanceof ApicRequestError && (e.status === 503 || e.status === 429)) {
            // A busy APIC while logging in: same backoff as any other busy answer.
            causes.push(e);
            retryable = true;
            allTls = false;
            break;
          }
          if (e instanceof ApicRequestError) throw e;
          const err = e instanceof Error ? e : new Error(String(e));
          const code = errCode(err);
          causes.push(err);
          if (tlsErrorCodes.has(code)) {
            lastTls = { host, code };
            this.log.error({ host, code }, 'APIC TLS verification failed');
          } else {
            allTls = false;
            retryable = true;
            this.log.warn(
              { host, code: code || err.message },
              'APIC connection failed, trying the next host',
            );
          }
          this.hostIndex = (this.hostIndex + 1) % this.hosts.length;
          this.counters.failovers++;
        }
      }
      if (allTls && lastTls !== undefined)
        throw new ApicTlsError(lastTls.host, lastTls.code, causes);
      if (!retryable || attempt >= retries) {
        const last = causes[causes.length - 1];
        if (last instanceof ApicRequestError) throw last;
        throw new ApicConnectionError(
          `APIC ${method} ${pathWithQuery.split('?')[0]} failed on all hosts (${this.hosts.join(', ')}) after ${attempt + 1} attempts: ${last?.message ?? 'unknown error'}`,
          causes,
        );
      }
      this.counters.retries++;
      const delay = backoffDelay(attempt, this.backoff);
      this.log.debug({ attempt, delay }, 'Retrying APIC request');
      await sleep(delay);
    }
  }

  private async loginOn(host: string): Promise<void> {
    const body = JSON.stringify({
      aaaUser: { attributes: { name: this.options.user, pwd: this.options.password } },
    });
    const res = await this.once(host, 'POST', '/api/aaaLogin.json', body, false);
    if (res.status < 200 || res.status >= 300)
      throw this.toRequestError(res, 'POST', '/api/aaaLogin.json');
    const { token, refreshTimeoutSeconds } = this.parseToken(res.body);
    this.token = token;
    this.tokenHost = host;
    this.log.info({ host }, 'Logged in to APIC');
    this.scheduleRefresh(refreshTimeoutSeconds);
  }

  private toRequestError(
    res: RawResponse,
    method: string,
    pathWithQuery: string,
  ): ApicRequestError {
    const path = pathWithQuery.split('?')[0] ?? pathWithQuery;
    try {
      const parsed = ErrorResponseSchema.safeParse(JSON.parse(res.body));
      const a = parsed.success ? parsed.data.imdata[0]?.error.attributes : undefined;
      if (a !== undefined) return new ApicRequestError(res.status, a.code, a.text, method, path);
    } catch {
      // Not JSON (a proxy's HTML page, say); report the status alone.
    }
    return new ApicRequestError(
      res.status,
      String(res.status),
      res.body.slice(0, 200),
      method,
      path,
    );
  }

  private once(
    host: string,
    method: string,
    pathWithQuery: string,
    body: string,
    auth: boolean,
  ): Promise<RawResponse> {
    const url = new URL(pathWithQuery, host);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      Accept: 'application/json',
    };
    if (body !== '') headers['Content-Length'] = String(Buffer.byteLength(body));
    if (auth) {
      if (this.identity !== undefined) {
        const sig = signRequest(this.identity, method, pathWithQuery, body);
        headers.Cookie = signatureCookie(
          this.identity,
          sig,
          this.tokenHost === host ? this.token : undefined,
        );
      } else if (this.token !== undefined) {
        headers.Cookie = `APIC-cookie=${this.token}`;
      }
    }
    this.counters.requests++;
    this.counters.bytesSent += Buffer.byteLength(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          path: pathWithQuery,
          method,
          headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            this.counters.bytesReceived += Buffer.byteLength(text);
            resolve({ status: res.statusCode ?? 0, body: text });
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(
          Object.assign(new Error(`APIC request timed out after ${this.timeoutMs} ms`), {
            code: 'ETIMEDOUT',
          }),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}
