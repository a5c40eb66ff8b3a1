import test from 'ava';
import fc from 'fast-check';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpamExhaustedError, IpamStore, reservedAddresses } from './index.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ipam-store-'));
  dirs.push(d);
  return d;
}
test.after.always(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('a reopened store has every allocation and the chunks', async (t) => {
  const path = join(await tempDir(), 'ipam.json');
  const a = await IpamStore.open({
    path,
    reserved: reservedAddresses([{ cidr: '10.2.0.0/16', gateway: '10.2.0.1' }]),
  });
  await a.setChunks(['10.2.0.0/28']);
  const first = await a.allocate({
    containerId: 'c1',
    ifName: 'eth0',
    netns: '/var/run/netns/x',
    pod: { namespace: 'ns', name: 'p' },
  });
  await a.allocate({ containerId: 'c2', ifName: 'eth0' });
  const b = await IpamStore.open({ path });
  t.deepEqual(b.snapshot(), a.snapshot());
  t.deepEqual(b.find('c1', 'eth0'), first.allocation);
  t.deepEqual(first.allocation.ips, ['10.2.0.2']);
});

test('no file written and no directory litter before the first change; none after', async (t) => {
  const dir = await tempDir();
  const s = await IpamStore.open({ path: join(dir, 'ipam.json') });
  t.deepEqual(await readdir(dir), []);
  await s.setChunks(['10.2.0.0/30']);
  t.deepEqual(await readdir(dir), ['ipam.json']);
});

test('a corrupt state file is refused, not silently replaced', async (t) => {
  const path = join(await tempDir(), 'ipam.json');
  await writeFile(path, JSON.stringify({ version: 1, chunks: ['10.0.0.0/40'], allocations: [] }));
  await t.throwsAsync(IpamStore.open({ path }), { message: /invalid/ });
});

test('exhaustion and a node without chunks are IpamExhaustedError', async (t) => {
  const s = await IpamStore.open({ path: join(await tempDir(), 'ipam.json') });
  const none = await t.throwsAsync(s.allocate({ containerId: 'a', ifName: 'eth0' }));
  t.true(none instanceof IpamExhaustedError);
  await s.setChunks(['10.2.0.0/32']);
  await s.allocate({ containerId: 'a', ifName: 'eth0' });
  const full = await t.throwsAsync(s.allocate({ containerId: 'b', ifName: 'eth0' }));
  t.true(full instanceof IpamExhaustedError);
  t.is((full as IpamExhaustedError).family, 4);
});

test('concurrent allocations get distinct addresses and all reach the disk', async (t) => {
  const path = join(await tempDir(), 'ipam.json');
  const s = await IpamStore.open({ path });
  await s.setChunks(['10.2.0.0/27']);
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => s.allocate({ containerId: `c${i}`, ifName: 'eth0' })),
  );
  const ips = results.map((r) => r.allocation.ips[0]);
  t.is(new Set(ips).size, 20);
  const onDisk = JSON.parse(await readFile(path, 'utf8')) as { allocations: unknown[] };
  t.is(onDisk.allocations.length, 20);
});

test('a failed write leaves the in-memory state unchanged', async (t) => {
  const dir = await tempDir();
  const s = await IpamStore.open({ path: join(dir, 'ipam.json') });
  await s.setChunks(['10.2.0.0/30']);
  // A directory in place of the state file makes the rename fail, for root too.
  await rm(join(dir, 'ipam.json'));
  await mkdir(join(dir, 'ipam.json', 'x'), { recursive: true });
  await t.throwsAsync(s.allocate({ containerId: 'a', ifName: 'eth0' }));
  t.is(s.list().length, 0);
  t.deepEqual(
    (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
    [],
  );
});

test('collectDeadPods keeps live pods and allocations without a pod', async (t) => {
  const s = await IpamStore.open({ path: join(await tempDir(), 'ipam.json') });
  await s.setChunks(['10.2.0.0/28']);
  await s.allocate({ containerId: 'a', ifName: 'eth0', pod: { namespace: 'ns', name: 'alive' } });
  await s.allocate({ containerId: 'b', ifName: 'eth0', pod: { namespace: 'ns', name: 'dead' } });
  await s.allocate({ containerId: 'c', ifName: 'eth0' });
  const released = await s.collectDeadPods(new Set(['ns/alive']));
  t.deepEqual(
    released.map((a) => a.containerId),
    ['b'],
  );
  t.deepEqual(
    s.list().map((a) => a.containerId),
    ['a', 'c'],
  );
});

test('property: restoring from disk equals the state before', async (t) => {
  const dir = await tempDir();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant('alloc' as const), id: fc.nat(12) }),
          fc.record({ op: fc.constant('release' as const), id: fc.nat(12) }),
          fc.record({ op: fc.constant('chunks' as const), v6: fc.boolean() }),
        ),
        { maxLength: 25 },
      ),
      async (ops) => {
        const path = join(dir, `ipam-${n++}.json`);
        const s = await IpamStore.open({ path });
        await s.setChunks(['10.2.0.0/29']);
        for (const o of ops) {
          if (o.op === 'alloc')
            await s.allocate({ containerId: `c${o.id}`, ifName: 'eth0' }).catch(() => undefined);
          else if (o.op === 'release') await s.release(`c${o.id}`);
          else await s.setChunks(o.v6 ? ['10.2.0.0/29', 'fd00::/125'] : ['10.2.0.8/29']);
        }
        const restored = await IpamStore.open({ path });
        t.deepEqual(restored.snapshot(), s.snapshot());
        t.deepEqual(restored.usage(), s.usage());
      },
    ),
    { numRuns: 40 },
  );
});
