/**
 * A small typed Kubernetes REST client. Authentication and TLS come from
 * @kubernetes/client-node's KubeConfig (kubeconfig files, in-cluster service
 * account); the requests are our own because the project needs what the
 * generated clients make awkward: server-side apply with a named field
 * manager on any kind and on the status subresource, and watch streams that
 * the informer can resume with backoff.
 */
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { collectionPath, objectPath, resourceFor, type ResourceInfo } from './resources.ts';
import type { KubeObject, ObjectRef } from './types.ts';

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export const isNotFound = (err: unknown): boolean =>
  err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown): boolean =>
  err instanceof KubeApiError && err.status === 409;
export const isGone = (err: unknown): boolean => err instanceof KubeApiError && err.status === 410;
export const isAlreadyExists = (err: unknown): boolean =>
  err instanceof KubeApiError && err.status === 409 && err.reason === 'AlreadyExists';

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

export interface ApplyOptions {
  fieldManager: string;
  /** Take ownership of fields another manager owns (conflicts are otherwise errors). */
  force?: boolean;
  subresource?: 'status';
}

export interface WatchHandle {
  /** Resolves when the stream ends (server timeout, error, or stop()). */
  done: Promise<void>;
  stop(): void;
}

/** The request's method and path; RBAC tests map them to the verbs and resources a component uses. */
type Counter = (method: string, path: string) => void;

export class KubeClient {
  private agent?: https.Agent;
  private readonly server: URL;
  /** Counts every request by verb; benchmarks read it to report requests per reconcile. */
  onRequest: Counter = () => {};
  /**
   * Called synchronously before every write (any verb but GET) is handed to
   * the connection pool, and again when its socket is ready to carry it; it
   * throws to refuse the write. A leader fences its
   * writes with it: a process resumed after a pause past its lease must not
   * write what it decided before the pause (see withWriteGuard).
   */
  private writeGuard: (() => void) | undefined;

  constructor(readonly config: KubeConfig) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  /**
   * A client on the same kubeconfig whose writes first pass `guard`, checked
   * after every await of the request's preparation, right before the request
   * is made, and again in the tick its bytes are written to the socket. Reads
   * are never guarded.
   */
  withWriteGuard(guard: () => void): KubeClient {
    const guarded = new KubeClient(this.config);
    guarded.onRequest = (...args) => this.onRequest(...args);
    guarded.writeGuard = guard;
    return guarded;
  }

  /** Closes pooled connections so the process can exit. */
  close(): void {
    this.agent?.destroy();
  }

  static fromFile(file: string): KubeClient {
    const config = new KubeConfig();
    config.loadFromFile(file);
    return new KubeClient(config);
  }

  /** KUBECONFIG, ~/.kube/config or the in-cluster service account, like kubectl. */
  static fromDefault(): KubeClient {
    const config = new KubeConfig();
    config.loadFromDefault();
    return new KubeClient(config);
  }

  private async options(
    method: string,
    path: string,
    headers: Record<string, string>,
  ): Promise<https.RequestOptions> {
    const options: https.RequestOptions = {
      method,
      protocol: this.server.protocol,
      hostname: this.server.hostname,
      port: this.server.port,
      path,
      headers: { Accept: 'application/json', ...headers },
    };
    // Per request, because credentials may rotate (projected service-account tokens).
    await this.config.applyToHTTPSOptions(options);
    // One pooled keep-alive agent with the kubeconfig's TLS material (verified unless it says otherwise).
    this.agent ??= new https.Agent({
      keepAlive: true,
      maxSockets: 64,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      rejectUnauthorized: options.rejectUnauthorized,
    });
    options.agent = this.agent;
    return options;
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    timeoutMs = 30_000,
    signal?: AbortSignal,
  ): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = payload
      ? { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(payload)) }
      : {};
    const options = await this.options(method, path, headers);
    // An aborted signal destroys the request: callers with a deadline (lease renewals) bound the whole exchange.
    if (signal) options.signal = signal;
    const guard = method === 'GET' ? undefined : this.writeGuard;
    guard?.();
    return new Promise<T>((resolve, reject) => {
      const req = https.request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve((text ? JSON.parse(text) : {}) as T);
            return;
          }
          reject(apiError(status, text, `${method} ${path}`));
        });
      });
      req.setTimeout(timeoutMs, () =>
        req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs}ms`)),
      );
      req.on('error', reject);
      const send = () => {
        try {
          guard?.();
        } catch (error) {
          req.destroy(error as Error);
          return;
        }
        this.onRequest(method, path);
        req.end(payload);
      };
      if (!guard) {
        send();
        return;
      }
      // A guarded write is checked again when its bytes can leave: a request may wait event-loop
      // turns for a pooled socket or a TLS handshake, and a process paused there (SIGSTOP past its
      // lease) must not send on resume. Nothing is written before end(), so the check and the
      // socket write are one synchronous step.
      req.once('socket', (socket) => {
        if (req.reusedSocket) send();
        else socket.once('secureConnect', send);
      });
    });
  }

  async get<T extends KubeObject>(ref: ObjectRef): Promise<T> {
    const info = resourceFor(ref.apiVersion, ref.kind);
    return this.request<T>('GET', objectPath(info, ref.name, ref.namespace));
  }

  /** Like get, but undefined for NotFound. */
  async read<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return await this.get<T>(ref);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    options: ListOptions = {},
  ): Promise<ListResult<T>> {
    const info = resourceFor(apiVersion, kind);
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion: string;
    do {
      const query = listQuery({ ...options, limit: options.limit ?? 500, continue: continueToken });
      const page = await this.request<{
        items: T[];
        metadata: { resourceVersion: string; continue?: string };
      }>('GET', `${collectionPath(info, options.namespace)}${query}`);
      // Lists drop apiVersion/kind on items; put them back so items are self-describing.
      for (const item of page.items) items.push({ ...item, apiVersion, kind });
      resourceVersion = page.metadata.resourceVersion;
      continueToken = page.metadata.continue || undefined;
    } while (continueToken);
    return { items, resourceVersion };
  }

  /** With dryRun the API server validates and admits the object without persisting it. */
  async create<T extends KubeObject>(
    object: T,
    options: { dryRun?: boolean; fieldManager?: string } = {},
  ): Promise<T> {
    const info = resourceFor(object.apiVersion, object.kind);
    const params = new URLSearchParams();
    if (options.dryRun) params.set('dryRun', 'All');
    if (options.fieldManager) params.set('fieldManager', options.fieldManager);
    const query = params.size > 0 ? `?${params.toString()}` : '';
    return this.request<T>(
      'POST',
      `${collectionPath(info, object.metadata.namespace)}${query}`,
      object,
    );
  }

  /** PUT with the object's resourceVersion: optimistic concurrency, 409 on conflict. */
  async replace<T extends KubeObject>(object: T, subresource?: 'status'): Promise<T> {
    const info = resourceFor(object.apiVersion, object.kind);
    const path =
      objectPath(info, object.metadata.name, object.metadata.namespace) +
      (subresource ? `/${subresource}` : '');
    return this.request<T>('PUT', path, object);
  }

  /**
   * Server-side apply: the object is the complete intent of `fieldManager`;
   * fields it owned and no longer sends are removed, fields of other managers
   * are kept. Visible in metadata.managedFields.
   */
  async apply<T extends KubeObject>(object: KubeObject, options: ApplyOptions): Promise<T> {
    const info = resourceFor(object.apiVersion, object.kind);
    const path =
      objectPath(info, object.metadata.name, object.metadata.namespace) +
      (options.subresource ? `/${options.subresource}` : '') +
      `?fieldManager=${encodeURIComponent(options.fieldManager)}${options.force ? '&force=true' : ''}`;
    return this.request<T>('PATCH', path, object, 'application/apply-patch+yaml');
  }

  async mergePatch<T extends KubeObject>(
    ref: ObjectRef,
    patch: unknown,
    subresource?: 'status',
  ): Promise<T> {
    const info = resourceFor(ref.apiVersion, ref.kind);
    const path = objectPath(info, ref.name, ref.namespace) + (subresource ? `/${subresource}` : '');
    return this.request<T>('PATCH', path, patch, 'application/merge-patch+json');
  }

  async jsonPatch<T extends KubeObject>(
    ref: ObjectRef,
    operations: unknown[],
    subresource?: 'status',
  ): Promise<T> {
    const info = resourceFor(ref.apiVersion, ref.kind);
    const path = objectPath(info, ref.name, ref.namespace) + (subresource ? `/${subresource}` : '');
    return this.request<T>('PATCH', path, operations, 'application/json-patch+json');
  }

  /** Deletes; NotFound counts as done. Returns false when it was already gone. */
  async delete(
    ref: ObjectRef,
    options: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; uid?: string } = {},
  ): Promise<boolean> {
    const info = resourceFor(ref.apiVersion, ref.kind);
    const body = {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      propagationPolicy: options.propagationPolicy ?? 'Background',
      ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
    };
    try {
      await this.request('DELETE', objectPath(info, ref.name, ref.namespace), body);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * Opens one watch stream from `resourceVersion`. The informer owns
   * reconnects; this only delivers events in order until the stream ends.
   */
  async watch<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    options: ListOptions & { resourceVersion: string; timeoutSeconds?: number },
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<WatchHandle> {
    const info: ResourceInfo = resourceFor(apiVersion, kind);
    const query = listQuery({ ...options, limit: undefined });
    const path = `${collectionPath(info, options.namespace)}${query}${query ? '&' : '?'}watch=1&allowWatchBookmarks=true&timeoutSeconds=${options.timeoutSeconds ?? 300}`;
    this.onRequest('WATCH', path);
    const requestOptions = await this.options('GET', path, {});
    let stopRequested = false;
    let request: ReturnType<typeof https.request> | undefined;
    const done = new Promise<void>((resolve, reject) => {
      request = https.request(requestOptions, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            reject(
              apiError(
                res.statusCode ?? 0,
                Buffer.concat(chunks).toString('utf8'),
                `WATCH ${path}`,
              ),
            ),
          );
          return;
        }
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let newline: number;
          while ((newline = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (!line) continue;
            const event = JSON.parse(line) as WatchEvent<T>;
            if (event.type === 'ERROR') {
              const status = event.object as unknown as {
                code?: number;
                reason?: string;
                message?: string;
              };
              reject(
                new KubeApiError(
                  status.code ?? 500,
                  status.reason ?? 'Unknown',
                  status.message ?? 'watch error',
                ),
              );
              request?.destroy();
              return;
            }
            onEvent(event);
          }
        });
        res.on('end', () => resolve());
        res.on('error', (err) => (stopRequested ? resolve() : reject(err)));
        res.on('aborted', () => (stopRequested ? resolve() : reject(new Error('watch aborted'))));
      });
      request.on('error', (err) => (stopRequested ? resolve() : reject(err)));
      request.end();
    });
    return {
      done,
      stop: () => {
        stopRequested = true;
        request?.destroy();
      },
    };
  }
}

function listQuery(options: ListOptions): string {
  const params = new URLSearchParams();
  if (options.labelSelector) params.set('labelSelector', options.labelSelector);
  if (options.fieldSelector) params.set('fieldSelector', options.fieldSelector);
  if (options.limit) params.set('limit', String(options.limit));
  if (options.continue) params.set('continue', options.continue);
  if (options.resourceVersion) params.set('resourceVersion', options.resourceVersion);
  const text = params.toString();
  return text ? `?${text}` : '';
}

function apiError(status: number, text: string, what: string): KubeApiError {
  try {
    const body = JSON.parse(text) as { reason?: string; message?: string; details?: unknown };
    return new KubeApiError(
      status,
      body.reason ?? 'Unknown',
      `${what}: ${body.message ?? text}`,
      body.details,
    );
  } catch {
    return new KubeApiError(status, 'Unknown', `${what}: HTTP ${status} ${text.slice(0, 500)}`);
  }
}
