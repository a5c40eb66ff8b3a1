import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { parse } from 'yaml';
import { AddressAllocator, addressOf } from '../../agents/controller/ipam/addresses.ts';
import { ChunkAllocator } from '../../agents/controller/ipam/chunks.ts';
import {
  encodeAllocation,
  type Allocations,
  type NodeAllocation,
} from '../../agents/controller/ipam/ledger.ts';
import { AciFabricSpec } from '../../crds/index.ts';
import { IpamLedgerName } from '../../lib/config/naming.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { repoRoot } from '../../e2e/support/paths.ts';
import { renderFabric } from '../render/index.ts';
import { ConfigMapName } from '../render/names.ts';
import {
  allocationProblems,
  appliedNetwork,
  changesAllocatedFields,
  ledgerAllocations,
} from './allocations.ts';

const sample = AciFabricSpec.parse(
  (parse(await readFile(path.join(repoRoot, 'samples', 'acifabric.yaml'), 'utf8')) as KubeObject)
    .spec,
);
type Network = AciFabricSpec['network'];
const withNetwork = (change: Partial<Network>): Network => ({ ...sample.network, ...change });

/** The ConfigMap the operator applies for a spec (the render step, as production runs it). */
function appliedConfigMap(network: Network): KubeObject {
  const rendered = renderFabric({
    fabric: { name: 'fabric', uid: 'uid' },
    spec: { ...sample, network },
  });
  const map = rendered.objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === ConfigMapName,
  );
  if (!map) throw new Error('no ConfigMap rendered');
  return map;
}

/** The ledger ConfigMap as the controller writes it (encodeAllocation per node). */
function ledger(entries: Record<string, NodeAllocation>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: IpamLedgerName, namespace: sample.namespace },
    data: Object.fromEntries(Object.entries(entries).map(([n, a]) => [n, encodeAllocation(a)])),
  };
}

const allocated = ledgerAllocations(
  ledger({
    'node-a': { chunks: ['10.2.0.0/27', '10.2.0.64/27'], serviceEndpoint: '10.5.0.2' },
    'node-b': { chunks: ['10.2.0.32/27'], serviceEndpoint: '10.5.0.7' },
  }),
);
const applied = appliedNetwork(appliedConfigMap(sample.network));

test('the applied network is read back from the rendered ConfigMap', (t) => {
  t.deepEqual(applied, { podSubnetChunkSize: 32, nodeServiceSubnet: '10.5.0.1/24' });
  t.is(appliedNetwork(undefined), undefined);
  t.is(
    appliedNetwork({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: {} }),
    undefined,
  );
});

test('a chunk size change while chunks of the old size are allocated is refused, naming the field and the chunks', (t) => {
  const problems = allocationProblems(withNetwork({ podSubnetChunkSize: 64 }), applied, allocated);
  t.is(problems.length, 1);
  t.regex(problems[0]!, /^spec\.network\.podSubnetChunkSize: 64 /);
  t.true(problems[0]!.includes('10.2.0.0/27 on node-a'), problems[0]);
  t.true(problems[0]!.includes('10.2.0.32/27 on node-b'), problems[0]);
  t.true(problems[0]!.includes('set it back to 32'), problems[0]);
});

test('a chunk size change with nothing allocated is accepted', (t) => {
  t.deepEqual(allocationProblems(withNetwork({ podSubnetChunkSize: 64 }), applied, new Map()), []);
  const onlyEndpoints: Allocations = new Map([
    ['node-a', { chunks: [], serviceEndpoint: '10.5.0.2' }],
  ]);
  t.deepEqual(
    allocationProblems(withNetwork({ podSubnetChunkSize: 64 }), applied, onlyEndpoints),
    [],
  );
});

test('what the applied configuration already says is never refused (only a change is judged)', (t) => {
  // A rollout's old controller may allocate old-size chunks after the change was accepted.
  const mixed: Allocations = new Map([
    ['node-a', { chunks: ['10.2.0.0/27', '10.2.1.0/26'] }],
    ['node-b', { chunks: [], serviceEndpoint: '10.6.0.9' }],
  ]);
  const network = withNetwork({ podSubnetChunkSize: 64, nodeServiceSubnet: '10.5.0.1/24' });
  const nowApplied = appliedNetwork(appliedConfigMap(network));
  t.false(changesAllocatedFields(network, nowApplied));
  t.deepEqual(allocationProblems(network, nowApplied, mixed), []);
});

test('without an applied configuration every allocation is judged', (t) => {
  t.true(changesAllocatedFields(sample.network, undefined));
  const problems = allocationProblems(
    withNetwork({ podSubnetChunkSize: 64 }),
    undefined,
    allocated,
  );
  t.is(problems.length, 1);
  t.regex(problems[0]!, /^spec\.network\.podSubnetChunkSize: .*set it back$/);
  t.deepEqual(allocationProblems(sample.network, undefined, allocated), []);
});

test('a node service subnet shrunk under assigned endpoints is refused, naming the field and the endpoints', (t) => {
  const problems = allocationProblems(
    withNetwork({ nodeServiceSubnet: '10.5.0.0/31' }),
    applied,
    allocated,
  );
  t.is(problems.length, 1);
  t.regex(problems[0]!, /^spec\.network\.nodeServiceSubnet: 10\.5\.0\.0\/31 /);
  t.true(problems[0]!.includes('10.5.0.2 on node-a'), problems[0]);
  t.true(problems[0]!.includes('10.5.0.7 on node-b'), problems[0]);
  t.true(problems[0]!.includes('set it back to 10.5.0.1/24'), problems[0]);
});

test('a node service subnet shrunk but still holding every endpoint is accepted', (t) => {
  t.deepEqual(
    allocationProblems(withNetwork({ nodeServiceSubnet: '10.5.0.1/28' }), applied, allocated),
    [],
  );
});

test('an endpoint that becomes the broadcast or the gateway of the new subnet is refused', (t) => {
  // 10.5.0.7 is the broadcast address of 10.5.0.0/29, 10.5.0.2 its gateway as written.
  const problems = allocationProblems(
    withNetwork({ nodeServiceSubnet: '10.5.0.2/29' }),
    applied,
    allocated,
  );
  t.is(problems.length, 1);
  t.true(problems[0]!.includes('10.5.0.2 on node-a'), problems[0]);
  t.true(problems[0]!.includes('10.5.0.7 on node-b'), problems[0]);
});

test('both changes at once give one message per field; long lists are cut', (t) => {
  const many: Allocations = new Map(
    Array.from({ length: 7 }, (_, i) => [
      `node-${i}`,
      { chunks: [`10.2.0.${i * 32}/27`], serviceEndpoint: `10.5.0.${i + 10}` },
    ]),
  );
  const problems = allocationProblems(
    withNetwork({ podSubnetChunkSize: 16, nodeServiceSubnet: '10.5.0.1/29' }),
    applied,
    many,
  );
  t.is(problems.length, 2);
  t.true(problems[0]!.includes('and 4 more'), problems[0]);
  t.true(problems[1]!.includes('and 4 more'), problems[1]);
});

/**
 * The rule against the controller's own allocators: allocate under the
 * applied configuration as the controller does, change the spec, and a
 * change the rules accept leaves every node's chunks and endpoint valid for
 * the controller under the new configuration; a refused one does not.
 */
test('property: accepted exactly when the controller under the new configuration keeps every allocation as it is', (t) => {
  const sizes = [16, 32, 64, 128];
  fc.assert(
    fc.property(
      fc.constantFrom(...sizes),
      fc.constantFrom(...sizes),
      fc.constantFrom('10.5.0.1/24', '10.5.0.1/28', '10.5.0.0/31', '10.5.0.9/29', '10.5.1.1/24'),
      fc.integer({ min: 0, max: 6 }),
      (oldSize, newSize, newServiceSubnet, nodeCount) => {
        const oldNetwork = withNetwork({ podSubnetChunkSize: oldSize });
        const chunks = new ChunkAllocator({
          podSubnets: oldNetwork.podSubnets,
          chunkSize: oldSize,
        });
        const endpoints = new AddressAllocator([oldNetwork.nodeServiceSubnet]);
        const allocations: Allocations = new Map();
        for (let i = 0; i < nodeCount; i++) {
          const node = `node-${i}`;
          chunks.ensureNode(node);
          const endpoint = endpoints.allocate(node, 4);
          allocations.set(node, {
            chunks: chunks.chunksOf(node).map((c) => c.cidr),
            ...(endpoint ? { serviceEndpoint: endpoint.text } : {}),
          });
        }
        const newNetwork = withNetwork({
          podSubnetChunkSize: newSize,
          nodeServiceSubnet: newServiceSubnet,
        });
        const accepted =
          allocationProblems(newNetwork, appliedNetwork(appliedConfigMap(oldNetwork)), allocations)
            .length === 0;
        const after = new ChunkAllocator({ podSubnets: newNetwork.podSubnets, chunkSize: newSize });
        const afterEndpoints = new AddressAllocator([newServiceSubnet]);
        const kept = [...allocations].every(([node, a]) => {
          const sameSize = chunks.chunksOf(node).every((c) => c.size === BigInt(newSize));
          const noConflict = after.reserve(node, a.chunks).length === 0;
          const address = a.serviceEndpoint ? addressOf(a.serviceEndpoint) : undefined;
          return sameSize && noConflict && (!address || afterEndpoints.reserve(node, address));
        });
        return accepted === kept;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
