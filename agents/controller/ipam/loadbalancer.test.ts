import test from 'ava';
import fc from 'fast-check';
import { LoadBalancerIpam, RefusalReasons } from './loadbalancer.ts';

const ipam = () => new LoadBalancerIpam(['10.3.0.0/29', 'fd00:3::/125'], ['10.4.0.0/28']);

test('dynamic addresses per family, skipping network and broadcast', (t) => {
  const a = ipam();
  t.deepEqual(a.decide('ns/a', { families: [4], requested: [] }), {
    kind: 'allocated',
    ips: ['10.3.0.1'],
  });
  t.deepEqual(a.decide('ns/b', { families: [4, 6], requested: [] }), {
    kind: 'allocated',
    ips: ['10.3.0.2', 'fd00:3::1'],
  });
  t.deepEqual(
    a.decide('ns/a', { families: [4], requested: [] }),
    { kind: 'allocated', ips: ['10.3.0.1'] },
    'stable',
  );
});

test('requested addresses are honoured only inside externStatic and when free', (t) => {
  const a = ipam();
  t.deepEqual(a.decide('ns/a', { families: [4], requested: ['10.4.0.5'] }), {
    kind: 'allocated',
    ips: ['10.4.0.5'],
  });
  const taken = a.decide('ns/b', { families: [4], requested: ['10.4.0.5'] });
  t.is(taken.kind === 'refused' ? taken.reason : '', RefusalReasons.inUse);
  const outside = a.decide('ns/c', { families: [4], requested: ['10.3.0.3'] });
  t.is(outside.kind === 'refused' ? outside.reason : '', RefusalReasons.notInExternStatic);
  t.deepEqual(a.addressesOf('ns/c'), [], 'refused holds nothing');
});

test('switching from a request to dynamic returns the requested address', (t) => {
  const a = ipam();
  a.decide('ns/a', { families: [4], requested: ['10.4.0.5'] });
  t.deepEqual(a.decide('ns/a', { families: [4], requested: [] }), {
    kind: 'allocated',
    ips: ['10.3.0.1'],
  });
  t.deepEqual(a.decide('ns/b', { families: [4], requested: ['10.4.0.5'] }), {
    kind: 'allocated',
    ips: ['10.4.0.5'],
  });
});

test('exhaustion is refused; release frees', (t) => {
  const a = ipam();
  for (let i = 0; i < 6; i++)
    t.is(a.decide(`ns/s${i}`, { families: [4], requested: [] }).kind, 'allocated');
  const full = a.decide('ns/x', { families: [4], requested: [] });
  t.is(full.kind === 'refused' ? full.reason : '', RefusalReasons.exhausted);
  a.release('ns/s3');
  t.deepEqual(a.decide('ns/x', { families: [4], requested: [] }), {
    kind: 'allocated',
    ips: ['10.3.0.4'],
  });
});

test('adopt rebuilds and never gives an address twice (property)', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(20), fc.boolean(), fc.boolean()), { maxLength: 80 }),
      (ops) => {
        let a = ipam();
        const status = new Map<string, string[]>();
        for (const [n, del, restart] of ops) {
          const key = `ns/s${n}`;
          if (restart) {
            a = ipam();
            for (const [k, ips] of status) for (const ip of ips) a.adopt(k, ip);
          }
          if (del) {
            a.release(key);
            status.delete(key);
          } else {
            const d = a.decide(key, { families: [4, 6], requested: [] });
            status.set(key, d.kind === 'allocated' ? d.ips : []);
          }
          const all = [...status.values()].flat();
          if (new Set(all).size !== all.length) return false;
        }
        return true;
      },
    ),
    { numRuns: 100 },
  );
  t.pass();
});
