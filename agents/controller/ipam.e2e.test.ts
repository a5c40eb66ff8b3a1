/**
 * IPAM against the real control plane: PodIPPools for 200 kwok nodes,
 * growth, release on node deletion, restart safety, LoadBalancer IPs, and
 * the AciFabric status the controller reports.
 */
import test from 'ava';
import { apiVersion as aciApiVersion, type AciFabric, type PodIPPool } from '../../crds/index.ts';
import { eventually } from '../../e2e/support/cluster.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { formatIp, ipFamily, parseCidr, prefixesOverlap } from '../../lib/net/cidr.ts';
import { RefusalReasons } from './ipam/loadbalancer.ts';
import type { RunningController } from './controller.ts';
import { LoadBalancerConditionType, LoadBalancerIpsAnnotation } from './ipam/service-ips.ts';
import type { Service } from './caches.ts';
import { harness, waitLeading, type Harness } from '../../e2e/support/controller/harness.ts';

type Pool = PodIPPool & KubeObject;
let h: Harness;
let controller: RunningController;

/** Chunks a fresh node gets: one per pod subnet family. */
let families: number;

test.before(async () => {
  h = await harness({ slot: 1 });
  families = h.config.network.podSubnets.length;
  controller = await h.start();
  await waitLeading(controller);
});

test.after.always(async () => {
  await h?.cleanup();
});

async function pools(): Promise<Pool[]> {
  const { items } = await h.client.list<Pool>(aciApiVersion, 'PodIPPool', { labelSelector: '' });
  return items.filter((p) => p.metadata.name.startsWith(`${h.id}-`));
}

function assertDisjoint(all: Pool[]): string | undefined {
  const chunks = all.flatMap((p) =>
    p.spec.chunks.map((c) => ({ node: p.metadata.name, prefix: parseCidr(c)!, c })),
  );
  for (let i = 0; i < chunks.length; i++)
    for (let j = i + 1; j < chunks.length; j++)
      if (prefixesOverlap(chunks[i]!.prefix, chunks[j]!.prefix))
        return `${chunks[i]!.node} ${chunks[i]!.c} overlaps ${chunks[j]!.node} ${chunks[j]!.c}`;
  const ips = all.map((p) => p.spec.serviceEndpoint?.ipv4);
  if (new Set(ips).size !== ips.length) return 'duplicate service endpoint IPs';
  const macs = all.map((p) => p.spec.serviceEndpoint?.mac);
  if (new Set(macs).size !== macs.length) return 'duplicate service endpoint MACs';
  return undefined;
}

test.serial(
  '200 nodes get non-overlapping PodIPPools owned by their Node, and AciFabric status counts them',
  async (t) => {
    const names = await h.addNodes(200);
    const all = await eventually(
      async () => {
        const list = await pools();
        return list.length === 200 && list.every((p) => p.spec.chunks.length === families)
          ? list
          : undefined;
      },
      '200 PodIPPools',
      180_000,
    );
    t.is(assertDisjoint(all), undefined);
    const sample = all.find((p) => p.metadata.name === names[0])!;
    t.deepEqual(sample.spec.gateways, h.config.network.podSubnets);
    t.regex(sample.spec.serviceEndpoint?.mac ?? '', /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/);
    t.is(sample.metadata.ownerReferences?.[0]?.kind, 'Node');
    const managers = sample.metadata.managedFields?.map((m) => m.manager) ?? [];
    t.true(managers.includes('aci-controller'));
    const fabric = await eventually(async () => {
      const f = await h.client.get<AciFabric & KubeObject>({
        apiVersion: aciApiVersion,
        kind: 'AciFabric',
        name: h.fabricName,
      });
      return f.status?.ipam?.nodes === 200 && f.status.apic?.connected ? f : undefined;
    }, 'AciFabric status with 200 nodes and a live APIC session');
    t.is(
      fabric.status?.ipam?.podAddressesAssigned,
      String(200 * families * h.config.network.podSubnetChunkSize),
    );
    t.is(fabric.status?.conditions?.find((c) => c.type === 'ApicConnected')?.status, 'True');
  },
);

test.serial('a node whose use rises gets another chunk', async (t) => {
  const [node] = await h.addNodes(1);
  const pool = await eventually(
    async () =>
      (await pools()).find((p) => p.metadata.name === node && p.spec.chunks.length === families),
    'pool of the new node',
  );
  const v4 = pool.spec.chunks.find((c) => !c.includes(':'))!;
  const base = parseCidr(v4)!;
  // The host agent reports 20 IPv4 addresses in use (> 32 - 16).
  const allocated = Array.from({ length: 20 }, (_, i) => formatIp(4, base.network + BigInt(i + 2)));
  await h.client.apply(
    {
      apiVersion: aciApiVersion,
      kind: 'PodIPPool',
      metadata: { name: node! },
      status: { used: 20, allocated, capacity: 64 },
    },
    { fieldManager: `aci-host-agent/${node}`, subresource: 'status' },
  );
  const grown = await eventually(
    async () =>
      (await pools()).find(
        (p) => p.metadata.name === node && p.spec.chunks.length === families + 1,
      ),
    'a third chunk',
  );
  t.is(grown.spec.chunks.filter((c) => !c.includes(':')).length, 2, 'the IPv4 family grew');
  t.is(
    grown.spec.chunks.filter((c) => c.includes(':')).length,
    pool.spec.chunks.filter((c) => c.includes(':')).length,
    'IPv6 did not',
  );
  t.is(assertDisjoint(await pools()), undefined);
});

test.serial('deleting nodes returns their chunks, which new nodes reuse', async (t) => {
  const before = await pools();
  const victims = before.slice(0, 20).map((p) => p.metadata.name);
  const freed = new Set(before.slice(0, 20).flatMap((p) => p.spec.chunks));
  await h.deleteNodes(victims);
  await eventually(
    async () => (await pools()).every((p) => !victims.includes(p.metadata.name)),
    'pools of deleted nodes gone',
  );
  const fresh = await h.addNodes(5);
  const after = await eventually(async () => {
    const list = await pools();
    return fresh.every((n) =>
      list.some((p) => p.metadata.name === n && p.spec.chunks.length === families),
    )
      ? list
      : undefined;
  }, 'pools for new nodes');
  const reused = after.filter((p) => fresh.includes(p.metadata.name)).flatMap((p) => p.spec.chunks);
  t.true(
    reused.every((c) => freed.has(c)),
    `new nodes reuse freed chunks (lowest first): ${reused.join(' ')}`,
  );
  t.is(assertDisjoint(after), undefined);
});

async function service(
  name: string,
  extra: { spec?: Record<string, unknown>; annotations?: Record<string, string> } = {},
): Promise<void> {
  await h.client.apply(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name,
        namespace: h.namespace,
        ...(extra.annotations ? { annotations: extra.annotations } : {}),
      },
      spec: {
        type: 'LoadBalancer',
        selector: { app: name },
        ports: [{ port: 80, protocol: 'TCP' }],
        ...extra.spec,
      },
    },
    { fieldManager: 'aci-e2e', force: true },
  );
}

const getService = (name: string) =>
  h.client.get<Service>({ apiVersion: 'v1', kind: 'Service', name, namespace: h.namespace });
const ingress = (s: Service): string[] =>
  (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');

test.serial(
  'LoadBalancer Services get IPs from externDynamic per IP family, requested IPs only from externStatic',
  async (t) => {
    await service('dyn');
    await service('dual', { spec: { ipFamilyPolicy: 'PreferDualStack' } });
    await service('fixed', { annotations: { [LoadBalancerIpsAnnotation]: '10.201.0.7' } });
    await service('outside', { annotations: { [LoadBalancerIpsAnnotation]: '192.0.2.7' } });
    const dyn = await eventually(async () => {
      const s = await getService('dyn');
      return ingress(s).length > 0 ? s : undefined;
    }, 'dyn IP');
    t.regex(ingress(dyn)[0] ?? '', /^10\.151\.0\./);
    const fixed = await eventually(async () => {
      const s = await getService('fixed');
      return ingress(s).length > 0 ? s : undefined;
    }, 'fixed IP');
    t.deepEqual(ingress(fixed), ['10.201.0.7']);
    const outside = await eventually(async () => {
      const s = await getService('outside');
      return s.status?.conditions?.some(
        (c) => c.type === LoadBalancerConditionType && c.status === 'False',
      )
        ? s
        : undefined;
    }, 'refusal condition');
    t.deepEqual(ingress(outside), []);
    t.is(
      outside.status?.conditions?.find((c) => c.type === LoadBalancerConditionType)?.reason,
      'RequestedIPNotInExternStatic',
    );
    const events = await eventually(async () => {
      const { items } = await h.client.list<
        KubeObject & { reason?: string; involvedObject?: { name?: string } }
      >('v1', 'Event', { namespace: h.namespace });
      return items.some(
        (e) => e.involvedObject?.name === 'outside' && e.reason === 'RequestedIPNotInExternStatic',
      )
        ? items
        : undefined;
    }, 'a Warning Event on the refused Service');
    t.truthy(events);
    // The test cluster's Services are dual stack: the request gets one address per family when
    // externDynamic has every family, and is refused as a whole when it lacks one.
    const pools = new Set(h.config.network.externDynamic.map((c) => `IPv${ipFamily(c)}`));
    const dual = await eventually(async () => {
      const s = await getService('dual');
      const decided = s.status?.conditions?.some((c) => c.type === LoadBalancerConditionType);
      return ingress(s).length > 0 || decided ? s : undefined;
    }, 'dual decided');
    const families = dual.spec?.ipFamilies ?? [];
    if (families.every((f) => pools.has(f))) t.is(ingress(dual).length, families.length);
    else {
      t.deepEqual(ingress(dual), []);
      t.is(
        dual.status?.conditions?.find((c) => c.type === LoadBalancerConditionType)?.reason,
        RefusalReasons.noPool,
      );
    }
  },
);

test.serial('an IP is released on type change and on deletion, and handed out again', async (t) => {
  const first = ingress(await getService('dyn'))[0];
  await h.client.apply(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dyn', namespace: h.namespace },
      spec: { type: 'ClusterIP', selector: { app: 'dyn' }, ports: [{ port: 80, protocol: 'TCP' }] },
    },
    { fieldManager: 'aci-e2e', force: true },
  );
  await eventually(
    async () => ingress(await getService('dyn')).length === 0,
    'IP removed after type change',
  );
  await service('dyn2');
  const second = await eventually(async () => ingress(await getService('dyn2'))[0], 'dyn2 IP');
  t.is(second, first ?? '', 'the lowest free address again');
  await h.client.delete({
    apiVersion: 'v1',
    kind: 'Service',
    name: 'fixed',
    namespace: h.namespace,
  });
  await service('fixed2', { annotations: { [LoadBalancerIpsAnnotation]: '10.201.0.7' } });
  const fixed2 = await eventually(
    async () => ingress(await getService('fixed2'))[0],
    'fixed2 IP after fixed was deleted',
  );
  t.is(fixed2, '10.201.0.7');
});

test.serial(
  'a restarted controller rebuilds from PodIPPools and Service statuses, cleans up nodes deleted while it was down',
  async (t) => {
    await controller.stop();
    const before = await pools();
    const victim = before[0]!.metadata.name;
    await h.deleteNodes([victim]);
    const added = await h.addNodes(3);
    controller = await h.start();
    await waitLeading(controller);
    const after = await eventually(async () => {
      const list = await pools();
      return !list.some((p) => p.metadata.name === victim) &&
        added.every((n) => list.some((p) => p.metadata.name === n))
        ? list
        : undefined;
    }, 'pools after restart');
    t.is(assertDisjoint(after), undefined);
    for (const p of before) {
      if (p.metadata.name === victim) continue;
      const now = after.find((q) => q.metadata.name === p.metadata.name);
      t.deepEqual(now?.spec.chunks, p.spec.chunks, `${p.metadata.name} kept its chunks`);
    }
    // LB IPs survive too: a new Service does not get an address already in use.
    await service('after-restart');
    const ip = await eventually(
      async () => ingress(await getService('after-restart'))[0],
      'IP after restart',
    );
    t.not(ip, ingress(await getService('dyn2'))[0]);
  },
);

test.serial('cleanup: deleting all test nodes removes their pools', async (t) => {
  const names = (await pools()).map((p) => p.metadata.name);
  await h.deleteNodes(names);
  await eventually(async () => (await pools()).length === 0, 'no pools left', 120_000);
  t.pass();
});
