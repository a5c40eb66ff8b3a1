/**
 * Load balancing end to end: a LoadBalancer Service whose pods run on three
 * kwok nodes gets a ServiceGraph and the APIC service graph objects; scaling
 * the pods changes the redirect destinations; deleting the Service removes
 * everything.
 */
import test from 'ava';
import {
  apiVersion as aciApiVersion,
  type PodIPPool,
  type ServiceGraph,
} from '../../crds/index.ts';
import { eventually } from '../../e2e/support/cluster.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { dns, serviceObjectName } from './apicnames.ts';
import type { RunningController } from './controller.ts';
import { redirectPolicyDn } from './loadbalancer/apic.ts';
import { harness, waitLeading, type Harness } from '../../e2e/support/controller/harness.ts';
import { deployment, loadBalancerService } from '../../e2e/support/controller/workloads.ts';

type Graph = ServiceGraph & KubeObject;
let h: Harness;
let controller: RunningController;
let nodes: string[];

test.before(async () => {
  h = await harness({ slot: 2 });
  nodes = await h.addNodes(4);
  controller = await h.start();
  await waitLeading(controller);
});

test.after.always(async () => {
  await h?.cleanup();
});

const graph = (name: string) =>
  h.client.read<Graph>({
    apiVersion: aciApiVersion,
    kind: 'ServiceGraph',
    name,
    namespace: h.namespace,
  });

function redirectDests(name: string): Map<string, Record<string, string>> {
  const pol = redirectPolicyDn(h.config, h.namespace, name);
  return new Map(
    [...h.owned()].filter(([dn, a]) => dn.startsWith(`${pol}/`) && a.class === 'vnsRedirectDest'),
  );
}

test.serial(
  'a LoadBalancer Service with endpoints on 3 nodes yields a ServiceGraph and the APIC service graph',
  async (t) => {
    await h.client.apply(
      deployment({ namespace: h.namespace, name: 'web', scope: h.id, replicas: 3, spread: true }),
      { fieldManager: 'aci-e2e' },
    );
    await h.client.apply(loadBalancerService(h.namespace, 'web', { app: 'web' }), {
      fieldManager: 'aci-e2e',
    });
    const sg = await eventually(
      async () => {
        const g = await graph('web');
        return g?.status?.nodeCount === 3 &&
          g.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? g
          : undefined;
      },
      'ServiceGraph with 3 nodes, Ready',
      120_000,
    );
    t.is(sg.spec.nodes.length, 3);
    t.is(sg.metadata.ownerReferences?.[0]?.kind, 'Service');
    t.deepEqual(
      sg.spec.ports.map((p) => [p.port, p.protocol]),
      [[80, 'TCP']],
    );
    t.true(sg.status?.apic?.synced);
    const pools = (await h.client.list<PodIPPool & KubeObject>(aciApiVersion, 'PodIPPool')).items;
    for (const n of sg.spec.nodes) {
      const pool = pools.find((p) => p.metadata.name === n.name);
      t.deepEqual(
        n.serviceEndpoint,
        pool?.spec.serviceEndpoint,
        `${n.name} uses its pool's service endpoint`,
      );
    }
    const dests = await eventually(
      async () => (redirectDests('web').size === 3 ? redirectDests('web') : undefined),
      '3 redirect destinations on the APIC',
    );
    const ips = [...dests.values()].map((d) => d.ip).sort();
    t.deepEqual(ips, sg.spec.nodes.map((n) => n.serviceEndpoint.ipv4 ?? '').sort());
    const owned = h.owned();
    const d = dns(h.config);
    const name = serviceObjectName(h.config, h.namespace, 'web');
    const ext = sg.spec.externalIPs[0];
    t.is(owned.get(`${d.l3out}/instP-${name}/extsubnet-[${ext}/32]`)?.class, 'l3extSubnet');
    t.is(
      owned.get(`${d.vrfTenant}/brc-${name}/subj-loadbalancedservice/rsSubjGraphAtt`)
        ?.tnVnsAbsGraphName,
      h.config.aci.serviceGraphTemplate,
    );
    t.is(owned.get(`${d.l3out}/instP-ext1/rscons-${name}`)?.class, 'fvRsCons');
    t.truthy(
      owned.get(
        `${d.vrfTenant}/ldevCtx-c-${name}-g-${h.config.aci.serviceGraphTemplate}-n-loadbalancer`,
      ),
    );
    for (const n of nodes)
      t.is(owned.get(`${d.device}/cDev-${n}`)?.class, 'vnsCDev', `concrete device for ${n}`);
  },
);

test.serial('scaling the endpoints changes the redirect destinations', async (t) => {
  await h.client.mergePatch(
    { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: h.namespace },
    { spec: { replicas: 1 } },
  );
  await eventually(
    async () => (redirectDests('web').size === 1 ? true : undefined),
    'one redirect destination',
    120_000,
  );
  const sg = await eventually(async () => {
    const g = await graph('web');
    return g?.status?.nodeCount === 1 ? g : undefined;
  }, 'nodeCount 1');
  t.is(sg.spec.nodes.length, 1);
  await h.client.mergePatch(
    { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: h.namespace },
    { spec: { replicas: 4 } },
  );
  await eventually(
    async () => (redirectDests('web').size === 4 ? true : undefined),
    'four redirect destinations',
    120_000,
  );
  t.pass();
});

test.serial('deleting the Service removes the ServiceGraph and its APIC objects', async (t) => {
  const name = serviceObjectName(h.config, h.namespace, 'web');
  await h.client.delete({ apiVersion: 'v1', kind: 'Service', name: 'web', namespace: h.namespace });
  await eventually(async () => (await graph('web')) === undefined, 'ServiceGraph gone');
  await eventually(
    async () => ![...h.owned().keys()].some((dn) => dn.includes(name)),
    'APIC objects of the Service gone',
  );
  // The shared device cluster stays: it serves every LoadBalancer Service.
  t.truthy(h.owned().get(dns(h.config).device));
});
