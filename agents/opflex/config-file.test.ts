import test from 'ava';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { z } from 'zod';
import { ConfigFileWatcher, nextConfig } from './config-file.ts';

const Cfg = z.object({ node: z.string(), n: z.number().default(1) });
const text = (v: unknown): string => JSON.stringify(v);

test('no file: wait before the first config, keep the running one after', (t) => {
  t.deepEqual(nextConfig(Cfg, { exists: false }, undefined), { kind: 'wait' });
  t.deepEqual(nextConfig(Cfg, { exists: false }, text({ node: 'a' })), { kind: 'unchanged' });
});

test('valid new content is applied (with defaults); the same content is not', (t) => {
  const d = nextConfig(Cfg, { exists: true, text: text({ node: 'a' }) }, undefined);
  t.deepEqual(d, { kind: 'apply', config: { node: 'a', n: 1 }, text: text({ node: 'a' }) });
  t.deepEqual(nextConfig(Cfg, { exists: true, text: text({ node: 'a' }) }, text({ node: 'a' })), {
    kind: 'unchanged',
  });
  t.is(
    nextConfig(Cfg, { exists: true, text: text({ node: 'b' }) }, text({ node: 'a' })).kind,
    'apply',
  );
});

test('unparseable or invalid content is refused with the reason, whatever runs', (t) => {
  const half = nextConfig(Cfg, { exists: true, text: '{"node": ' }, undefined);
  t.is(half.kind, 'invalid');
  const wrong = nextConfig(Cfg, { exists: true, text: text({ node: 7 }) }, text({ node: 'a' }));
  t.like(wrong, { kind: 'invalid' });
  t.regex(wrong.kind === 'invalid' ? wrong.reason : '', /node/);
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the watcher waits for the file, then applies each atomic rewrite in order, skipping invalid ones', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'config-file-'));
  const file = path.join(dir, 'agent.json');
  const applied: z.infer<typeof Cfg>[] = [];
  const lines: string[] = [];
  const log = pino(
    { level: 'info' },
    { write: (l: string) => void lines.push(String(JSON.parse(l).msg)) },
  );
  // A long poll: the directory watch alone must notice renames.
  const w = new ConfigFileWatcher({
    file,
    schema: Cfg,
    log,
    apply: async (c) => void applied.push(c),
    pollIntervalMs: 60_000,
  });
  const put = async (content: string): Promise<void> => {
    await writeFile(`${file}.tmp`, content);
    await rename(`${file}.tmp`, file);
  };
  try {
    await w.start();
    t.deepEqual(applied, []);
    t.true(lines.some((l) => /Waiting for config file/.test(l)));
    await put(text({ node: 'a' }));
    await w.firstApplied;
    t.deepEqual(applied, [{ node: 'a', n: 1 }]);
    await put('{"node": ');
    await until(() => lines.some((l) => /invalid; keeping the running config/.test(l)));
    await put(text({ node: 'a', n: 2 }));
    await until(() => applied.length === 2);
    t.deepEqual(applied[1], { node: 'a', n: 2 });
    await rm(file);
    await w.check();
    t.is(applied.length, 2, 'a vanished file keeps the running config');
  } finally {
    w.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
