/**
 * List-then-watch cache of one kind, resilient where client-node's informer
 * is not: every error (API server restart, connection reset, 410 Gone)
 * leads to a backoff and a resumed watch or, when the resourceVersion is too
 * old, a relist whose diff against the cache is delivered as
 * added/updated/deleted events, so no change made meanwhile is lost.
 * Handlers run one event at a time, in order.
 */
import { backoffDelay, sleep, type BackoffOptions } from './backoff.ts';
import { isGone, type KubeClient } from './client.ts';
import { keyOf, type KubeObject } from './types.ts';

export type InformerEvent = 'add' | 'update' | 'delete';
export type InformerHandler<T> = (event: InformerEvent, object: T, previous?: T) => void;

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  backoff?: BackoffOptions;
  /** Server-side watch timeout; the informer re-watches after it. */
  watchTimeoutSeconds?: number;
  onError?: (error: unknown, attempt: number) => void;
}

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly abort = new AbortController();
  private stopWatch: (() => void) | undefined;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private loop: Promise<void> | undefined;
  /** Times the informer had to list from scratch (first list included). */
  relists = 0;

  constructor(
    private readonly client: KubeClient,
    readonly apiVersion: string,
    readonly kind: string,
    private readonly options: InformerOptions = {},
  ) {}

  on(handler: InformerHandler<T>): this {
    this.handlers.push(handler);
    return this;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): this {
    this.loop ??= this.run();
    return this;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.stopWatch?.();
    await this.loop;
  }

  private emit(event: InformerEvent, object: T, previous?: T): void {
    for (const handler of this.handlers) handler(event, object, previous);
  }

  private async relist(): Promise<string> {
    const { items, resourceVersion } = await this.client.list<T>(
      this.apiVersion,
      this.kind,
      this.options,
    );
    this.relists++;
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item.metadata);
      seen.add(key);
      const previous = this.cache.get(key);
      this.cache.set(key, item);
      if (!previous) this.emit('add', item);
      else if (previous.metadata.resourceVersion !== item.metadata.resourceVersion)
        this.emit('update', item, previous);
    }
    for (const [key, previous] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.emit('delete', previous);
    }
    if (!this.synced) {
      this.synced = true;
      for (const wake of this.syncWaiters) wake();
      this.syncWaiters = [];
    }
    return resourceVersion;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let resourceVersion: string | undefined;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        resourceVersion ??= await this.relist();
        const handle = await this.client.watch<T>(
          this.apiVersion,
          this.kind,
          {
            ...this.options,
            resourceVersion,
            timeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
          },
          (event) => {
            attempt = 0;
            resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
            if (event.type === 'BOOKMARK') return;
            const object = { ...event.object, apiVersion: this.apiVersion, kind: this.kind } as T;
            const key = keyOf(object.metadata);
            const previous = this.cache.get(key);
            if (event.type === 'DELETED') {
              this.cache.delete(key);
              this.emit('delete', object);
            } else {
              this.cache.set(key, object);
              this.emit(previous ? 'update' : 'add', object, previous);
            }
          },
        );
        this.stopWatch = handle.stop;
        if (signal.aborted) handle.stop();
        await handle.done;
      } catch (error) {
        if (signal.aborted) break;
        if (isGone(error)) {
          resourceVersion = undefined; // too old: relist and diff
          continue;
        }
        attempt++;
        this.options.onError?.(error, attempt);
        await sleep(
          backoffDelay(attempt - 1, this.options.backoff ?? { initialMs: 200, maxMs: 30_000 }),
          signal,
        );
      }
    }
  }
}
