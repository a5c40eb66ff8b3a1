import test from 'ava';
import fc from 'fast-check';
import { cidrContains } from '../../../lib/net/cidr.ts';
import * as core from './core.ts';
import { poolStatusSummary, reservedAddresses, subnetsFromGateways } from './index.ts';

const v4Chunks = ['10.2.0.0/28', '10.2.0.64/29'];
const dual = ['10.2.0.0/29', 'fd00:2::/125'];
const none: ReadonlySet<string> = new Set();

function alloc(
  state: core.IpamState,
  containerId: string,
  ifName = 'eth0',
  reserved = none,
): core.IpamState {
  const out = core.allocate(state, { containerId, ifName }, reserved);
  if (out.kind !== 'allocated' && out.kind !== 'existing')
    throw new Error(`unexpected ${out.kind}`);
  return out.state;
}

function inChunks(chunks: readonly string[], ip: string): boolean {
  return chunks.some((c) => cidrContains(c, ip));
}

test('allocates first free address of each family, IPv4 first', (t) => {
  const s = alloc(core.setChunks(core.emptyState, dual), 'c1');
  t.deepEqual(core.findAllocation(s, 'c1', 'eth0')?.ips, ['10.2.0.0', 'fd00:2::']);
});

test('skips reserved addresses', (t) => {
  const reserved = core.reservedSet(
    reservedAddresses([{ cidr: '10.2.0.0/16', gateway: '10.2.0.1' }]),
  );
  let s = core.setChunks(core.emptyState, ['10.2.0.0/30']);
  s = alloc(s, 'a', 'eth0', reserved);
  t.deepEqual(core.findAllocation(s, 'a', 'eth0')?.ips, ['10.2.0.2']);
});

test('reservedAddresses lists gateway, network and IPv4 broadcast address', (t) => {
  t.deepEqual(
    reservedAddresses([
      { cidr: '10.2.0.0/16', gateway: '10.2.0.1' },
      { cidr: 'fd00::/64', gateway: 'fd00:0::1' },
    ]),
    ['10.2.0.1', '10.2.0.0', '10.2.255.255', 'fd00::1', 'fd00::'],
  );
});

test('ADD twice for the same container and interface returns the same addresses', (t) => {
  const s1 = alloc(core.setChunks(core.emptyState, v4Chunks), 'c1');
  const again = core.allocate(s1, { containerId: 'c1', ifName: 'eth0' }, none);
  t.is(again.kind, 'existing');
  if (again.kind === 'existing') t.is(again.state, s1);
  const other = core.allocate(s1, { containerId: 'c1', ifName: 'net1' }, none);
  t.is(other.kind, 'allocated');
});

test('reports exhaustion of one family and allocates nothing', (t) => {
  let s = core.setChunks(core.emptyState, ['10.2.0.0/31', 'fd00::/120']);
  s = alloc(alloc(s, 'a'), 'b');
  const out = core.allocate(s, { containerId: 'c', ifName: 'eth0' }, none);
  t.deepEqual(out, { kind: 'exhausted', family: 4 });
});

test('reports a node without chunks', (t) => {
  t.deepEqual(core.allocate(core.emptyState, { containerId: 'a', ifName: 'eth0' }, none), {
    kind: 'noChunks',
  });
});

test('release by container id frees all its interfaces; unknown ids release nothing', (t) => {
  let s = core.setChunks(core.emptyState, v4Chunks);
  s = alloc(alloc(alloc(s, 'a'), 'a', 'net1'), 'b');
  const out = core.release(s, 'a');
  t.is(out.released.length, 2);
  t.deepEqual(
    out.state.allocations.map((a) => a.containerId),
    ['b'],
  );
  t.is(core.release(out.state, 'zzz').state, out.state);
});

test('garbage collection releases allocations whose pod is gone', (t) => {
  let s = core.setChunks(core.emptyState, v4Chunks);
  for (const [id, name] of [
    ['a', 'p1'],
    ['b', 'p2'],
  ] as const) {
    const out = core.allocate(
      s,
      { containerId: id, ifName: 'eth0', pod: { namespace: 'ns', name } },
      none,
    );
    if (out.kind !== 'allocated') throw new Error('not allocated');
    s = out.state;
  }
  const live = new Set(['ns/p2']);
  const out = core.collectGarbage(s, (a) => live.has(`${a.pod?.namespace}/${a.pod?.name}`));
  t.deepEqual(
    out.released.map((a) => a.containerId),
    ['a'],
  );
});

test('a removed chunk hands out no new address but its allocations still count', (t) => {
  let s = alloc(core.setChunks(core.emptyState, ['10.2.0.0/30']), 'a');
  s = core.setChunks(s, ['10.3.0.0/30']);
  s = alloc(s, 'b');
  t.deepEqual(core.findAllocation(s, 'b', 'eth0')?.ips, ['10.3.0.0']);
  t.is(core.usage(s, none).v4.used, 2);
});

test('needs more once fewer than half a chunk is free (as the original)', (t) => {
  // 2 chunks of 8: size 16; needs more when used > 16 - 4 = 12.
  let s = core.setChunks(core.emptyState, ['10.2.0.0/29', '10.2.0.8/29']);
  for (let i = 0; i < 12; i++) s = alloc(s, `c${i}`);
  t.false(core.usage(s, none).v4.needsMore);
  s = alloc(s, 'c12');
  const u = core.usage(s, none).v4;
  t.true(u.needsMore);
  t.is(u.used, 13);
  t.is(u.size, 16n);
  t.is(u.chunkSize, 8n);
});

test('a family the cluster uses but without chunks needs more', (t) => {
  const s = core.setChunks(core.emptyState, ['10.2.0.0/29']);
  const u = core.usage(s, none, [4, 6]);
  t.false(u.v4.needsMore);
  t.true(u.v6.needsMore);
  t.false(core.usage(s, none).v6.needsMore);
});

test('usage excludes reserved addresses from the size and lists used addresses', (t) => {
  const reserved = core.reservedSet(['10.2.0.1', '10.9.9.9']);
  const s = alloc(
    core.setChunks(core.emptyState, ['10.2.0.0/29', 'fd00::/64']),
    'a',
    'eth0',
    reserved,
  );
  const u = core.usage(s, reserved);
  t.is(u.v4.size, 7n);
  t.deepEqual(u.v4.addresses, ['10.2.0.0']);
  t.is(u.v6.size, 1n << 64n);
  t.deepEqual(u.v6.addresses, ['fd00::']);
});

test('chunks are canonicalized and validated', (t) => {
  t.deepEqual(core.normalizeChunks(['10.2.0.5/29', '10.2.0.0/29', 'FD00:0::/64']), [
    '10.2.0.0/29',
    'fd00::/64',
  ]);
  t.throws(() => core.normalizeChunks(['10.2.0.0/33']));
  t.throws(() => core.normalizeChunks(['banana']));
});

// --- properties -----------------------------------------------------------

type Op = { op: 'alloc'; id: number; ifName: 'eth0' | 'net1' } | { op: 'release'; id: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('alloc' as const),
    id: fc.nat(30),
    ifName: fc.constantFrom('eth0' as const, 'net1' as const),
  }),
  fc.record({ op: fc.constant('release' as const), id: fc.nat(30) }),
);

const chunksArb = fc.constantFrom(
  ['10.2.0.0/28'],
  ['10.2.0.0/29', '10.2.1.0/30'],
  ['10.2.0.0/29', 'fd00::/124'],
  ['fd00:1::/125', 'fd00:2::/126'],
  ['10.2.0.0/27', '10.2.0.0/28'],
);

function run(
  chunks: readonly string[],
  ops: readonly Op[],
  reserved: ReadonlySet<string>,
): core.IpamState {
  let s = core.setChunks(core.emptyState, chunks);
  for (const o of ops) {
    if (o.op === 'alloc') {
      const out = core.allocate(s, { containerId: `c${o.id}`, ifName: o.ifName }, reserved);
      if (out.kind === 'allocated' || out.kind === 'existing') s = out.state;
    } else {
      s = core.release(s, `c${o.id}`).state;
    }
  }
  return s;
}

test('property: never hands out the same address twice, never outside the chunks, never a reserved one', (t) => {
  fc.assert(
    fc.property(chunksArb, fc.array(opArb, { maxLength: 80 }), (chunks, ops) => {
      const reserved = core.reservedSet(['10.2.0.1', 'fd00:1::1']);
      const s = run(chunks, ops, reserved);
      const all = s.allocations.flatMap((a) => a.ips);
      return (
        new Set(all).size === all.length &&
        all.every((ip) => inChunks(chunks, ip) && !reserved.has(ip)) &&
        core.usage(s, reserved).v4.used + core.usage(s, reserved).v6.used === all.length
      );
    }),
  );
  t.pass();
});

test('property: release then allocate of the same container round-trips to an address of the pool', (t) => {
  fc.assert(
    fc.property(chunksArb, fc.array(opArb, { maxLength: 40 }), (chunks, ops) => {
      const s = run(chunks, ops, none);
      const first = core.allocate(s, { containerId: 'probe', ifName: 'eth0' }, none);
      if (first.kind !== 'allocated') return true; // pool full: nothing to round-trip
      const released = core.release(first.state, 'probe');
      const again = core.allocate(released.state, { containerId: 'probe', ifName: 'eth0' }, none);
      // Releasing restores the exact previous state, so first-free gives the same address back.
      return (
        released.state.allocations.length === s.allocations.length &&
        again.kind === 'allocated' &&
        JSON.stringify(again.allocation.ips) === JSON.stringify(first.allocation.ips)
      );
    }),
  );
  t.pass();
});

test('property: allocation is idempotent per container id and interface', (t) => {
  fc.assert(
    fc.property(chunksArb, fc.array(opArb, { maxLength: 40 }), fc.nat(30), (chunks, ops, id) => {
      const s = run(chunks, ops, none);
      const a = core.allocate(s, { containerId: `c${id}`, ifName: 'eth0' }, none);
      if (a.kind !== 'allocated' && a.kind !== 'existing') return true;
      const b = core.allocate(a.state, { containerId: `c${id}`, ifName: 'eth0' }, none);
      return b.kind === 'existing' && b.state === a.state && b.allocation === a.allocation;
    }),
  );
  t.pass();
});

test('subnets come from PodIPPool gateways; the status summary adds both families', (t) => {
  t.deepEqual(subnetsFromGateways(['10.2.0.1/16', 'fd00:0::1/64']), [
    { cidr: '10.2.0.0/16', gateway: '10.2.0.1' },
    { cidr: 'fd00::/64', gateway: 'fd00::1' },
  ]);
  const s = alloc(core.setChunks(core.emptyState, ['10.2.0.0/30', 'fd00::/126']), 'a');
  t.deepEqual(poolStatusSummary(core.usage(s, none)), {
    capacity: 8,
    used: 2,
    allocated: ['10.2.0.0', 'fd00::'],
    needsMore: false,
  });
  const big = core.setChunks(core.emptyState, ['fd00::/64']);
  t.is(poolStatusSummary(core.usage(big, none)).capacity, Number.MAX_SAFE_INTEGER);
});
