/** Exponential backoff with full jitter, as every retry in the project uses. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** 0..1: share of the delay that is randomized. */
  jitter?: number;
}

export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const base = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, attempt));
  const jitter = options.jitter ?? 0.5;
  return Math.round(base * (1 - jitter) + base * jitter * random());
}

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
