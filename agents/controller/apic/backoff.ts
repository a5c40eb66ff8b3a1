// Exponential backoff with full jitter (AWS architecture blog, "Exponential
// Backoff And Jitter"): spreads retries of many clients after an APIC
// hiccup instead of having them arrive together.

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 200, maxMs: 30_000 };

/** Delay before retry number `attempt` (0-based); `random` in [0,1) is injectable for tests. */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = defaultBackoff,
  random: () => number = Math.random,
): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  // Never zero, so a tight loop cannot form even with an unlucky draw.
  return Math.max(1, Math.floor(cap / 2 + (random() * cap) / 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
