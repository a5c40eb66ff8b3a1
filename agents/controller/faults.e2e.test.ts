/**
 * Faults: the APIC down at start and mid-run (simulator restarts), the
 * controller killed (SIGKILL) and restarted mid-churn, and a leader failover
 * mid-churn. After each: no address handed out twice, nothing leaked, the
 * APIC holds exactly what the cluster wants, AciFabric status tells the story.
 */
import type { ChildProcess } from 'node:child_process';
import test from 'ava';
import { apiVersion as aciApiVersion, type AciFabric, type PodIPPool } from '../../crds/index.ts';
import { eventually } from '../../e2e/support/cluster.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { parseCidr, prefixesOverlap } from '../../lib/net/cidr.ts';
import { dns, staticPolicyName } from './apicnames.ts';
import type { Node, Pod, Service } from './caches.ts';
import { hostprotPolicyDn } from './policy/hostprot.ts';
import {
  harness,
  ScopeLabel,
  waitLeading,
  type Harness,
} from '../../e2e/support/controller/harness.ts';
import { loadBalancerService } from '../../e2e/support/controller/workloads.ts';

type Fabric = AciFabric & KubeObject;
type Pool = PodIPPool & KubeObject;
let h: Harness;

test.before(async () => {
  h = await harness({ slot: 4, chunkSize: 16 });
});

test.after.always(async () => {
  await h?.cleanup();
});

const fabric = () =>
  h.client.get<Fabric>({ apiVersion: aciApiVersion, kind: 'AciFabric', name: h.fabricName });
const apicCondition = (f: Fabric) => f.status?.conditions?.find((c) => c.type === 'ApicConnected');

function pod(name: string, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: h.namespace, labels },
    spec: {
      nodeSelector: { [ScopeLabel]: h.id },
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'app', image: 'fake' }],
    },
  };
}

const policyDn = () => hostprotPolicyDn(h.config, h.namespace, 'from-clients');

async function converged(): Promise<string | undefined> {
  const nodes = (
    await h.client.list<Node>('v1', 'Node', { labelSelector: `${ScopeLabel}=${h.id}` })
  ).items.filter((n) => !n.metadata.deletionTimestamp);
  const pools = (await h.client.list<Pool>(aciApiVersion, 'PodIPPool')).items.filter((p) =>
    p.metadata.name.startsWith(`${h.id}-`),
  );
  const nodeNames = new Set(nodes.map((n) => n.metadata.name));
  for (const n of nodeNames)
    if (
      !pools.some(
        (p) => p.metadata.name === n && p.spec.chunks.length >= h.config.network.podSubnets.length,
      )
    )
      return `node ${n} has no pool`;
  for (const p of pools)
    if (!nodeNames.has(p.metadata.name)) return `pool ${p.metadata.name} leaked`;
  const chunks = pools.flatMap((p) => p.spec.chunks.map((c) => parseCidr(c)!));
  for (let i = 0; i < chunks.length; i++)
    for (let j = i + 1; j < chunks.length; j++)
      if (prefixesOverlap(chunks[i]!, chunks[j]!)) return 'overlapping chunks';
  const endpoints = pools.map((p) => p.spec.serviceEndpoint?.ipv4);
  if (new Set(endpoints).size !== endpoints.length) return 'duplicate service endpoints';
  const services = (await h.client.list<Service>('v1', 'Service', { namespace: h.namespace }))
    .items;
  const lbIps = services.flatMap((s) => (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip));
  if (new Set(lbIps).size !== lbIps.length) return 'duplicate LoadBalancer IPs';
  if (services.some((s) => s.spec?.type === 'LoadBalancer' && lbIps.length === 0))
    return 'LoadBalancer Service without IP';
  const clients = (
    await h.client.list<Pod>('v1', 'Pod', { namespace: h.namespace, labelSelector: 'role=client' })
  ).items;
  if (clients.some((p) => !p.status?.podIP || p.metadata.deletionTimestamp))
    return 'clients not settled';
  const want = clients.map((p) => `${p.status?.podIP}/32`).sort();
  const have = [...h.owned()]
    .filter(([dn, a]) => dn.startsWith(`${policyDn()}/`) && a.class === 'hostprotRemoteIp')
    .map(([, a]) => a.addr)
    .sort();
  if (JSON.stringify(want) !== JSON.stringify(have))
    return `hostprotRemoteIp ${have.join(',')} != ${want.join(',')}`;
  const f = await fabric();
  if (!f.status?.apic?.connected) return 'APIC not connected in status';
  if (f.status.ipam?.nodes !== nodeNames.size)
    return `status.ipam.nodes ${f.status.ipam?.nodes} != ${nodeNames.size}`;
  return undefined;
}

async function assertConverged(what: string): Promise<void> {
  let last: string | undefined = 'not checked';
  await eventually(
    async () => {
      last = await converged();
      return last === undefined;
    },
    `${what} (last: ${String(last)})`,
    120_000,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; last mismatch: ${last}`);
  });
}

/** Adds and deletes nodes and client pods until stopped. */
function churn(): { stop: () => Promise<void> } {
  let running = true;
  let i = 0;
  const loop = (async () => {
    const mine: string[] = [];
    while (running) {
      i++;
      if (i % 3 === 0) mine.push(...(await h.addNodes(1)));
      if (i % 5 === 0 && mine.length > 0) await h.deleteNodes([mine.shift()!]);
      await h.client.apply(pod(`client-${i}`, { role: 'client' }), { fieldManager: 'aci-e2e' });
      if (i % 2 === 0)
        await h.client.delete({
          apiVersion: 'v1',
          kind: 'Pod',
          name: `client-${i - 1}`,
          namespace: h.namespace,
        });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

test.serial(
  'APIC down at start: status shows it, the controller retries and converges once it is up',
  async (t) => {
    await h.addNodes(3);
    await h.client.apply(
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'from-clients', namespace: h.namespace },
        spec: {
          podSelector: {},
          ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }],
        },
      },
      { fieldManager: 'aci-e2e' },
    );
    await h.client.apply(pod('client-0', { role: 'client' }), { fieldManager: 'aci-e2e' });
    await h.client.apply(loadBalancerService(h.namespace, 'lb', { role: 'client' }), {
      fieldManager: 'aci-e2e',
    });
    const down = h.sim.inject({ restart: { keepState: true, downMs: 8000 } });
    const controller = await h.start();
    await waitLeading(controller);
    const f = await eventually(
      async () => {
        const x = await fabric();
        return apicCondition(x)?.status === 'False' && x.status?.apic?.lastError ? x : undefined;
      },
      'ApicConnected False with the error while the APIC is down',
      30_000,
    );
    t.is(f.status?.apic?.connected, false);
    // Kubernetes-side work goes on without the APIC.
    const pending = await eventually(async () => {
      const mismatch = await converged();
      return mismatch?.startsWith('hostprotRemoteIp') || mismatch === 'APIC not connected in status'
        ? mismatch
        : undefined;
    }, 'IPAM done while the APIC is down (only the APIC side missing)');
    t.truthy(pending);
    await down;
    await assertConverged('convergence after the APIC came up');
    t.is(apicCondition(await fabric())?.status, 'True');
    await controller.stop();
  },
);

test.serial(
  'APIC restarted mid-run with its state lost: the controller notices, resyncs and restores everything',
  async (t) => {
    const controller = await h.start();
    await waitLeading(controller);
    await assertConverged('initial convergence');
    const d = dns(h.config);
    const staticDn = `${d.clusterTenant}/pol-${staticPolicyName(h.config, 'discovery')}`;
    t.true(h.owned().has(staticDn));
    const restart = h.sim.inject({ restart: { keepState: false, downMs: 5000 } });
    await eventually(
      async () => (await fabric()).status?.apic?.connected === false,
      'status shows the APIC session lost',
      5000,
      100,
    );
    await restart;
    await eventually(
      async () => h.owned().has(staticDn),
      'static objects restored after the APIC lost its state',
      60_000,
    );
    await assertConverged('convergence after the APIC restart');
    await controller.stop();
  },
);

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null
      ? resolve()
      : child.once('exit', () => resolve()),
  );
}

test.serial(
  'controller killed (SIGKILL) and restarted mid-churn: no duplicates, no leaks, APIC converges',
  async (t) => {
    const first = h.spawn();
    const firstIdentity = await h.identityOf(first);
    await eventually(
      async () => (await h.leaseHolder()) === firstIdentity,
      'child controller leads',
      60_000,
    );
    const load = churn();
    await new Promise((r) => setTimeout(r, 2500));
    first.kill('SIGKILL');
    await exited(first);
    await new Promise((r) => setTimeout(r, 1500));
    const second = h.spawn();
    const secondIdentity = await h.identityOf(second);
    await new Promise((r) => setTimeout(r, 2000));
    await load.stop();
    await eventually(
      async () => (await h.leaseHolder()) === secondIdentity,
      'restarted controller leads',
      60_000,
    );
    await assertConverged('convergence after kill and restart');
    second.kill('SIGTERM');
    await exited(second);
    t.pass();
  },
);

test.serial(
  'leader failover mid-churn: the standby takes over, no duplicates, no leaks, APIC converges',
  async (t) => {
    const a = h.spawn();
    const aIdentity = await h.identityOf(a);
    await eventually(async () => (await h.leaseHolder()) === aIdentity, 'a leads', 60_000);
    const b = h.spawn();
    const bIdentity = await h.identityOf(b);
    await new Promise((r) => setTimeout(r, 1500));
    const load = churn();
    await new Promise((r) => setTimeout(r, 2500));
    a.kill('SIGKILL');
    await exited(a);
    await eventually(async () => (await h.leaseHolder()) === bIdentity, 'b takes over', 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    await load.stop();
    await assertConverged('convergence after failover');
    b.kill('SIGTERM');
    await exited(b);
    t.pass();
  },
);
