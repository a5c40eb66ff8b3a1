/**
 * A keyed work queue in the manner of client-go's rate-limited workqueue:
 * a key is queued at most once, never processed by two workers at once
 * (re-added while processing, it runs again afterwards), failures retry with
 * per-key exponential backoff, and `addAfter` schedules timed requeues.
 */
import { backoffDelay, type BackoffOptions } from './backoff.ts';

export type Reconcile = (key: string) => Promise<ReconcileResult | void>;

export interface ReconcileResult {
  /** Run again after this many ms although nothing failed (a timed wait). */
  requeueAfterMs?: number;
}

export interface WorkQueueOptions {
  concurrency?: number;
  backoff?: BackoffOptions;
  onError?: (key: string, error: unknown, attempt: number) => void;
  /** Called with the queue depth whenever it changes (metrics). */
  onDepth?: (depth: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirtyWhileProcessing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; at: number }>();
  private waiters: (() => void)[] = [];
  private stopped = false;
  private workers: Promise<void>[] = [];

  constructor(
    private readonly reconcile: Reconcile,
    private readonly options: WorkQueueOptions = {},
  ) {}

  get depth(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.options.onDepth?.(this.queue.length);
    this.waiters.shift()?.();
  }

  /** Adds the key after a delay; of two pending delays for one key the earlier wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    this.timers.set(key, { timer, at });
  }

  start(): void {
    const concurrency = this.options.concurrency ?? 1;
    for (let i = 0; i < concurrency; i++) this.workers.push(this.work());
  }

  /** Stops taking work and waits for the keys in progress to finish. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const wake of this.waiters) wake();
    this.waiters = [];
    await Promise.all(this.workers);
  }

  private async next(): Promise<string | undefined> {
    while (!this.stopped) {
      const key = this.queue.shift();
      if (key !== undefined) {
        this.queued.delete(key);
        this.options.onDepth?.(this.queue.length);
        return key;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return undefined;
  }

  private async work(): Promise<void> {
    for (let key = await this.next(); key !== undefined; key = await this.next()) {
      this.processing.add(key);
      try {
        const result = await this.reconcile(key);
        this.failures.delete(key);
        if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
      } catch (error) {
        const attempt = this.failures.get(key) ?? 0;
        this.failures.set(key, attempt + 1);
        this.options.onError?.(key, error, attempt + 1);
        this.addAfter(
          key,
          backoffDelay(attempt, this.options.backoff ?? { initialMs: 100, maxMs: 60_000 }),
        );
      } finally {
        this.processing.delete(key);
        if (this.dirtyWhileProcessing.delete(key)) this.add(key);
      }
    }
  }
}
