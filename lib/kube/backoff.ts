/**
 * Capped exponential backoff, the one every retry in the project uses (the
 * Kubernetes informers and work queue, the APIC client, sync engine and
 * subscriptions). The jitter is named by what it computes, after the AWS
 * architecture blog's "Exponential Backoff And Jitter":
 * - `equal` (default): half the capped delay fixed, half random, in
 *   [cap/2, cap]. Retries still spread, and a retry never comes much earlier
 *   than the schedule says, which keeps a failing peer from being hammered.
 * - `full`: uniformly random in [0, cap]: the widest spread, for many
 *   clients contending for one resource.
 * - `none`: exactly the capped delay (tests that count attempts).
 * Never zero, so an unlucky draw cannot make a tight loop.
 */
export type Jitter = 'equal' | 'full' | 'none';

export interface BackoffOptions {
  /** Delay before the first retry (attempt 0), before jitter. */
  initialMs: number;
  /** Cap of the delay, before jitter. */
  maxMs: number;
  jitter?: Jitter;
}

/** Delay before retry number `attempt` (0-based); `random` in [0,1) is injectable for tests. */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  // The exponent is capped so 2 ** attempt stays finite for any attempt count.
  const cap = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(Math.max(0, attempt), 52));
  const jitter = options.jitter ?? 'equal';
  const delay =
    jitter === 'none' ? cap : jitter === 'full' ? random() * cap : cap / 2 + (random() * cap) / 2;
  return Math.max(1, Math.round(delay));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
