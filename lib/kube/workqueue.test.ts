import test from 'ava';
import { WorkQueue } from './workqueue.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('a key added many times before it runs is reconciled once', async (t) => {
  const seen: string[] = [];
  const gate = deferred();
  const queue = new WorkQueue(async (key) => {
    seen.push(key);
    if (seen.length === 2) gate.resolve();
  });
  for (let i = 0; i < 5; i++) queue.add('a');
  queue.add('b');
  queue.start();
  await gate.promise;
  await queue.shutdown();
  t.deepEqual(seen, ['a', 'b']);
});

test('a key is never reconciled by two workers at once, and a re-add during processing runs again after', async (t) => {
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const firstStarted = deferred();
  const release = deferred();
  const done = deferred();
  const queue = new WorkQueue(
    async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs++;
      if (runs === 1) {
        firstStarted.resolve();
        await release.promise;
      }
      running--;
      if (runs === 2) done.resolve();
    },
    { concurrency: 4 },
  );
  queue.start();
  queue.add('same');
  await firstStarted.promise;
  queue.add('same');
  queue.add('same');
  release.resolve();
  await done.promise;
  await queue.shutdown();
  t.is(maxRunning, 1);
  t.is(runs, 2);
});

test('failures retry with growing backoff until success', async (t) => {
  const attempts: number[] = [];
  const errors: number[] = [];
  const done = deferred();
  const queue = new WorkQueue(
    async () => {
      attempts.push(Date.now());
      if (attempts.length < 4) throw new Error('not yet');
      done.resolve();
    },
    {
      backoff: { initialMs: 5, maxMs: 100, jitter: 'none' },
      onError: (_key, _error, attempt) => errors.push(attempt),
    },
  );
  queue.start();
  queue.add('k');
  await done.promise;
  await queue.shutdown();
  t.deepEqual(errors, [1, 2, 3]);
  t.is(attempts.length, 4);
});

test('requeueAfterMs schedules the key again without counting a failure', async (t) => {
  let runs = 0;
  const done = deferred();
  const errors: unknown[] = [];
  const queue = new WorkQueue(
    async () => {
      runs++;
      if (runs === 3) done.resolve();
      return runs < 3 ? { requeueAfterMs: 5 } : undefined;
    },
    { onError: (_k, e) => errors.push(e) },
  );
  queue.start();
  queue.add('k');
  await done.promise;
  await queue.shutdown();
  t.is(runs, 3);
  t.deepEqual(errors, []);
});

test('shutdown waits for work in progress and drops what is queued', async (t) => {
  const seen: string[] = [];
  const started = deferred();
  const release = deferred();
  const queue = new WorkQueue(async (key) => {
    seen.push(key);
    started.resolve();
    await release.promise;
  });
  queue.start();
  queue.add('first');
  queue.add('second');
  await started.promise;
  const stopping = queue.shutdown();
  release.resolve();
  await stopping;
  queue.add('after');
  t.deepEqual(seen, ['first']);
});
