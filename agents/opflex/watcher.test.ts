import test from 'ava';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { z } from 'zod';
import { FolderWatcher } from './watcher.ts';

const Item = z.object({ name: z.string(), n: z.number() });

async function withWatcher(
  fn: (dir: string, w: FolderWatcher<typeof Item>) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'watcher-'));
  const w = new FolderWatcher(
    dir,
    '.item',
    Item,
    pino({ level: 'silent' }),
    () => undefined,
    60_000,
    false,
  );
  try {
    await w.start();
    await fn(dir, w);
  } finally {
    w.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

test('valid files are read; corrupt, invalid and other-suffix files are skipped', async (t) => {
  await withWatcher(async (dir, w) => {
    await writeFile(path.join(dir, 'a.item'), JSON.stringify({ name: 'a', n: 1 }));
    await writeFile(path.join(dir, 'b.item'), '{"name": ');
    await writeFile(path.join(dir, 'c.item'), JSON.stringify({ name: 'c' }));
    await writeFile(path.join(dir, 'd.item.tmp'), JSON.stringify({ name: 'd', n: 4 }));
    t.true(await w.scan());
    t.deepEqual(w.values(), [{ name: 'a', n: 1 }]);
  });
});

test('a replaced file (rename) and a removed file are noticed; an unchanged folder is not a change', async (t) => {
  await withWatcher(async (dir, w) => {
    await writeFile(path.join(dir, 'a.item'), JSON.stringify({ name: 'a', n: 1 }));
    await w.scan();
    t.false(await w.scan());
    await writeFile(path.join(dir, 'a.item.tmp'), JSON.stringify({ name: 'a', n: 2 }));
    await rename(path.join(dir, 'a.item.tmp'), path.join(dir, 'a.item'));
    t.true(await w.scan());
    t.deepEqual(w.values(), [{ name: 'a', n: 2 }]);
    await rm(path.join(dir, 'a.item'));
    t.true(await w.scan());
    t.deepEqual(w.values(), []);
  });
});
