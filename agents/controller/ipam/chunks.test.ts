import test from 'ava';
import fc from 'fast-check';
import { parseCidr, prefixesOverlap } from '../../../lib/net/cidr.ts';
import { ChunkAllocator } from './chunks.ts';

const config = { podSubnets: ['10.2.0.1/16', 'fd00:2::1/64'], chunkSize: 32 };

function overlapping(chunks: string[]): [string, string] | undefined {
  const prefixes = chunks.map((c) => parseCidr(c)!);
  for (let i = 0; i < prefixes.length; i++)
    for (let j = i + 1; j < prefixes.length; j++)
      if (prefixesOverlap(prefixes[i]!, prefixes[j]!)) return [chunks[i]!, chunks[j]!];
  return undefined;
}

const allChunks = (a: ChunkAllocator) =>
  a.nodeNames().flatMap((n) => a.chunksOf(n).map((c) => c.cidr));

test('every node gets one chunk per family, aligned to the chunk size, and the gateways of its subnets', (t) => {
  const a = new ChunkAllocator(config);
  a.ensureNode('n1');
  t.deepEqual(
    a.chunksOf('n1').map((c) => c.cidr),
    ['10.2.0.0/27', 'fd00:2::/123'],
  );
  t.deepEqual(a.gatewaysFor('n1'), ['10.2.0.1/16', 'fd00:2::1/64']);
  a.ensureNode('n2');
  t.deepEqual(
    a.chunksOf('n2').map((c) => c.cidr),
    ['10.2.0.32/27', 'fd00:2::20/123'],
  );
});

test('a subnet written as a network gets network + 1 as gateway', (t) => {
  const a = new ChunkAllocator({ podSubnets: ['10.9.0.0/24'], chunkSize: 16 });
  t.is(a.gatewayOf(0), '10.9.0.1/24');
});

test('200 nodes never overlap (property)', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(2, 8, 32, 64),
      fc.shuffledSubarray(
        Array.from({ length: 200 }, (_, i) => `node-${i}`),
        { minLength: 200, maxLength: 200 },
      ),
      (size, names) => {
        const a = new ChunkAllocator({
          podSubnets: ['10.2.0.1/16', 'fd00:2::1/64'],
          chunkSize: size,
        });
        for (const n of names) a.ensureNode(n);
        const chunks = allChunks(a);
        return chunks.length === 400 && overlapping(chunks) === undefined;
      },
    ),
    { numRuns: 20 },
  );
  t.pass();
});

test('grows by one chunk when use exceeds capacity minus half a chunk, per family', (t) => {
  const a = new ChunkAllocator({ podSubnets: ['10.2.0.1/16'], chunkSize: 32 });
  a.ensureNode('n1');
  t.false(a.grow('n1', { 4: 16 }));
  t.true(a.grow('n1', { 4: 17 }));
  t.is(a.chunksOf('n1').length, 2);
  t.false(a.grow('n1', { 4: 17 }), 'the same use does not grow twice');
  t.true(a.grow('n1', { 4: 49 }));
  t.is(a.capacity('n1', 4), 96n);
});

test('released chunks go back to the pool and are reused lowest first', (t) => {
  const a = new ChunkAllocator({ podSubnets: ['10.2.0.0/24'], chunkSize: 64 });
  for (const n of ['a', 'b', 'c', 'd']) a.ensureNode(n);
  t.false(a.ensureNode('e'), 'the /24 holds four chunks of 64');
  a.release('b');
  t.true(a.ensureNode('e'));
  t.deepEqual(
    a.chunksOf('e').map((c) => c.cidr),
    ['10.2.0.64/26'],
  );
});

test('reserve rebuilds from existing pools and reports chunks another node holds', (t) => {
  const a = new ChunkAllocator({ podSubnets: ['10.2.0.0/24'], chunkSize: 32 });
  t.deepEqual(a.reserve('a', ['10.2.0.32/27']), []);
  t.deepEqual(
    a.reserve('b', ['10.2.0.32/27', '10.2.0.64/26']),
    ['10.2.0.32/27'],
    'shared chunk refused, larger foreign chunk kept',
  );
  a.ensureNode('c');
  t.deepEqual(
    a.chunksOf('c').map((x) => x.cidr),
    ['10.2.0.0/27'],
  );
  a.ensureNode('d');
  t.deepEqual(
    a.chunksOf('d').map((x) => x.cidr),
    ['10.2.0.128/27'],
    'skips the /26 of b',
  );
  t.deepEqual(
    a.reserve('x', ['192.168.0.0/27']),
    [],
    'chunks outside the pod subnets are kept, not counted',
  );
  t.is(a.chunksOf('x')[0]?.subnet, -1);
});

type Step =
  | { op: 'add'; node: number }
  | { op: 'delete'; node: number }
  | { op: 'use'; node: number; used: number }
  | { op: 'restart' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('add' as const), node: fc.nat(30) }),
  fc.record({ op: fc.constant('delete' as const), node: fc.nat(30) }),
  fc.record({ op: fc.constant('use' as const), node: fc.nat(30), used: fc.nat(200) }),
  fc.record({ op: fc.constant('restart' as const) }),
);

test('random node, pod and restart schedules never duplicate an address and leak nothing after churn ends', (t) => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 120 }), (steps) => {
      const cfg = { podSubnets: ['10.2.0.0/20', 'fd00:2::/112'], chunkSize: 16 };
      let a = new ChunkAllocator(cfg);
      // The "API server": what the PodIPPools say after each step.
      const pools = new Map<string, string[]>();
      const write = (n: string) =>
        pools.set(
          n,
          a.chunksOf(n).map((c) => c.cidr),
        );
      for (const s of steps) {
        if (s.op === 'restart') {
          a = new ChunkAllocator(cfg);
          for (const [n, chunks] of pools) if (a.reserve(n, chunks).length > 0) return false;
          continue;
        }
        const n = `n${s.node}`;
        if (s.op === 'add') {
          a.ensureNode(n);
          write(n);
        } else if (s.op === 'delete') {
          pools.delete(n);
          a.release(n);
        } else if (pools.has(n)) {
          a.grow(n, { 4: s.used, 6: s.used });
          write(n);
        }
        if (overlapping([...pools.values()].flat())) return false;
      }
      for (const n of [...pools.keys()]) {
        pools.delete(n);
        a.release(n);
      }
      return a.assignedAddresses() === 0n && a.nodeNames().length === 0;
    }),
    { numRuns: 200 },
  );
  t.pass();
});
