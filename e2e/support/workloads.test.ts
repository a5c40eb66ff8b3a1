import test from 'ava';
import fc from 'fast-check';
import {
  modelPods,
  NetpolCases,
  Ports,
  Protocols,
  referenceAllowed,
  type ModelPod,
} from './opflex/netpol-model.ts';
import { realizeIpBlocks } from './workloads.ts';

const model = modelPods('10.131');
const podSubnet = '10.139.0.0/16';

/** Distinct addresses in the pod subnet, one per model pod, as IPAM could hand them out. */
const realPods = fc
  .uniqueArray(fc.integer({ min: 2, max: 65_000 }), {
    minLength: model.length,
    maxLength: model.length,
  })
  .map((hosts) =>
    model.map((m, i) => ({
      ...m,
      ip: `10.139.${Math.floor((hosts[i] ?? 0) / 256)}.${(hosts[i] ?? 0) % 256}`,
    })),
  );

const verdicts = (
  policies: Parameters<typeof referenceAllowed>[0],
  pods: readonly ModelPod[],
): boolean[] =>
  pods.flatMap((client) =>
    pods.flatMap((server) =>
      Ports.flatMap((port) =>
        Protocols.map((proto) => referenceAllowed(policies, client, server, port, proto)),
      ),
    ),
  );

test('ipBlocks realized on real pod addresses keep every case’s truth table', (t) => {
  const withBlocks = NetpolCases.filter((c) =>
    JSON.stringify(c.policies('10.131')).includes('ipBlock'),
  );
  t.true(withBlocks.length >= 2, 'the CIDR cases are among the model’s');
  fc.assert(
    fc.property(realPods, (real) =>
      NetpolCases.every((c) => {
        const policies = c.policies('10.131');
        const realized = realizeIpBlocks(policies, model, real, podSubnet);
        return (
          JSON.stringify(verdicts(realized, real)) === JSON.stringify(verdicts(policies, model))
        );
      }),
    ),
    { numRuns: 50 },
  );
});

test('a block of every pod becomes the pod subnet with /32 excepts; others become /32 peers', (t) => {
  const real = model.map((m, i) => ({ ...m, ip: `10.139.7.${i + 10}` }));
  const find = (name: string) => {
    const c = NetpolCases.find((x) => x.name === name);
    if (!c) throw new Error(name);
    return realizeIpBlocks(c.policies('10.131'), model, real, podSubnet)[0]?.spec?.egress?.[0]?.to;
  };
  // y/b is the fifth model pod.
  t.deepEqual(find('should allow egress access to server in CIDR block'), [
    { ipBlock: { cidr: '10.139.7.14/32' } },
  ]);
  // Except namespace y (pods 4-6) and z/c (pod 9).
  t.deepEqual(find('should enforce except clause while egress access to server in CIDR block'), [
    {
      ipBlock: {
        cidr: podSubnet,
        except: ['10.139.7.13/32', '10.139.7.14/32', '10.139.7.15/32', '10.139.7.18/32'],
      },
    },
  ]);
});
