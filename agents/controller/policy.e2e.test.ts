/**
 * Policy mapping end to end: EndpointGroupMapping precedence and status,
 * NetworkPolicy → hostprotPol on the APIC, pod churn → hostprotRemoteIp,
 * the static objects, and the VMM inventory.
 */
import test from 'ava';
import { apiVersion as aciApiVersion, type EndpointGroupMapping } from '../../crds/index.ts';
import { eventually } from '../../e2e/support/cluster.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import type { Mo } from './apic/mo.ts';
import { dns, staticPolicyName } from './apicnames.ts';
import type { Pod } from './caches.ts';
import type { RunningController } from './controller.ts';
import { hostprotPolicyDn } from './policy/hostprot.ts';
import {
  harness,
  ScopeLabel,
  waitLeading,
  type Harness,
} from '../../e2e/support/controller/harness.ts';

type Mapping = EndpointGroupMapping & KubeObject;
let h: Harness;
let controller: RunningController;

test.before(async () => {
  h = await harness({ slot: 3 });
  await h.addNodes(2);
  controller = await h.start();
  await waitLeading(controller);
});

test.after.always(async () => {
  await h?.cleanup();
});

function pod(namespace: string, name: string, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: {
      nodeSelector: { [ScopeLabel]: h.id },
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'app', image: 'fake', ports: [{ name: 'redis', containerPort: 6379 }] }],
    },
  };
}

async function runningIp(namespace: string, name: string): Promise<string> {
  return eventually(async () => {
    const p = await h.client.get<Pod>({ apiVersion: 'v1', kind: 'Pod', name, namespace });
    return p.status?.phase === 'Running' && p.status.podIP ? p.status.podIP : undefined;
  }, `pod ${name} running with an IP`);
}

function mapping(
  namespace: string,
  name: string,
  selector: Record<string, string>,
  epg: { applicationProfile: string; name: string },
  priority = 0,
): KubeObject {
  return {
    apiVersion: aciApiVersion,
    kind: 'EndpointGroupMapping',
    metadata: { name, namespace },
    spec: {
      podSelector: Object.keys(selector).length ? { matchLabels: selector } : {},
      endpointGroup: epg,
      priority,
    },
  };
}

const getMapping = (namespace: string, name: string) =>
  h.client.get<Mapping>({
    apiVersion: aciApiVersion,
    kind: 'EndpointGroupMapping',
    name,
    namespace,
  });
const cond = (m: Mapping, type: string) => m.status?.conditions?.find((c) => c.type === type);

test.serial(
  'the static objects are on the APIC: tenant, application profile, EPGs, bridge domains, static policies',
  async (t) => {
    const d = dns(h.config);
    await eventually(
      async () =>
        h.owned().has(`${d.clusterTenant}/pol-${staticPolicyName(h.config, 'discovery')}`),
      'static objects',
    );
    const owned = h.owned();
    t.is(owned.get(d.clusterTenant)?.class, 'fvTenant');
    t.is(owned.get(d.epg(h.config.aci.defaultEndpointGroup))?.class, 'fvAEPg');
    t.is(owned.get(`${d.podBd}/rsctx`)?.tnFvCtxName, 'vrf1');
    t.is(owned.get(`${d.podBd}/subnet-[10.103.0.1/16]`)?.class, 'fvSubnet');
    t.is(owned.get(d.serviceBd)?.class, 'fvBD');
    t.is(
      owned.get(`${d.clusterTenant}/pol-${staticPolicyName(h.config, 'egress')}`)?.class,
      'hostprotPol',
    );
  },
);

test.serial(
  'EndpointGroupMapping: precedence, matched pod counts, owned / found / missing EPGs',
  async (t) => {
    const ns = await h.createNamespace('epgm');
    for (const [name, labels] of [
      ['web-1', { tier: 'web' }],
      ['web-2', { tier: 'web' }],
      ['web-3', { tier: 'web' }],
      ['db-1', { tier: 'db' }],
      ['plain', {}],
    ] as const) {
      await h.client.apply(pod(ns, name, labels), { fieldManager: 'aci-e2e' });
    }
    h.sim.externalPost('uni/tn-common', {
      fvAp: {
        attributes: { dn: 'uni/tn-common/ap-shared', name: 'shared' },
        children: [{ fvAEPg: { attributes: { rn: 'epg-web', name: 'web' } } }],
      },
    } as Mo);
    const ap = h.config.aci.applicationProfile;
    await h.client.apply(
      mapping(
        ns,
        'ns-default',
        {},
        { applicationProfile: ap, name: h.config.aci.defaultEndpointGroup.name },
      ),
      { fieldManager: 'aci-e2e' },
    );
    await h.client.apply(
      {
        ...mapping(ns, 'web', { tier: 'web' }, { applicationProfile: 'shared', name: 'web' }),
        spec: {
          podSelector: { matchLabels: { tier: 'web' } },
          endpointGroup: { tenant: 'common', applicationProfile: 'shared', name: 'web' },
        },
      },
      { fieldManager: 'aci-e2e' },
    );
    await h.client.apply(
      mapping(ns, 'web-prio', { tier: 'web' }, { applicationProfile: ap, name: 'missing' }, 10),
      { fieldManager: 'aci-e2e' },
    );

    const prio = await eventually(async () => {
      const m = await getMapping(ns, 'web-prio');
      return m.status?.matchedPods === 3 && cond(m, 'Invalid') ? m : undefined;
    }, 'web-prio decides the web pods');
    t.is(cond(prio, 'Ready')?.status, 'False');
    t.is(cond(prio, 'Invalid')?.status, 'True');
    t.is(cond(prio, 'Invalid')?.reason, 'EndpointGroupNotFound');
    t.is(prio.status?.endpointGroupDn, `uni/tn-${h.config.aci.tenant}/ap-${ap}/epg-missing`);
    const web = await eventually(async () => {
      const m = await getMapping(ns, 'web');
      return m.status?.matchedPods === 0 && cond(m, 'Ready')?.status === 'True' ? m : undefined;
    }, 'web: same specificity, lower priority, no pods; EPG found');
    t.is(cond(web, 'Ready')?.reason, 'EndpointGroupFound');
    const def = await eventually(async () => {
      const m = await getMapping(ns, 'ns-default');
      return m.status?.matchedPods === 2 ? m : undefined;
    }, 'namespace default has the other two pods');
    t.is(cond(def, 'Ready')?.reason, 'EndpointGroupOwnedByCluster');
    t.is(def.status?.observedGeneration, def.metadata.generation);

    // The missing EPG appears on the APIC: the mapping turns Ready.
    h.sim.externalPost(`uni/tn-${h.config.aci.tenant}/ap-${ap}`, {
      fvAEPg: {
        attributes: { dn: `uni/tn-${h.config.aci.tenant}/ap-${ap}/epg-missing`, name: 'missing' },
      },
    } as Mo);
    await eventually(
      async () => cond(await getMapping(ns, 'web-prio'), 'Ready')?.status === 'True',
      'web-prio Ready once the EPG exists',
      60_000,
    );
    // Relabel a pod: counts follow.
    await h.client.mergePatch(
      { apiVersion: 'v1', kind: 'Pod', name: 'plain', namespace: ns },
      { metadata: { labels: { tier: 'web' } } },
    );
    await eventually(
      async () => (await getMapping(ns, 'web-prio')).status?.matchedPods === 4,
      'web-prio has 4 pods',
    );
    await eventually(
      async () => (await getMapping(ns, 'ns-default')).status?.matchedPods === 1,
      'default has 1 pod',
    );
    t.pass();
  },
);

function remoteIps(policyDn: string): string[] {
  return [...h.owned()]
    .filter(([dn, a]) => dn.startsWith(`${policyDn}/`) && a.class === 'hostprotRemoteIp')
    .map(([, a]) => a.addr ?? '')
    .sort();
}

test.serial(
  'NetworkPolicy becomes a hostprotPol; pod churn updates its hostprotRemoteIp',
  async (t) => {
    const ns = await h.createNamespace('netpol');
    await h.client.apply(pod(ns, 'db', { role: 'db' }), { fieldManager: 'aci-e2e' });
    await h.client.apply(pod(ns, 'fe-1', { role: 'frontend' }), { fieldManager: 'aci-e2e' });
    await h.client.apply(pod(ns, 'fe-2', { role: 'frontend' }), { fieldManager: 'aci-e2e' });
    const ips = [await runningIp(ns, 'fe-1'), await runningIp(ns, 'fe-2')];
    await h.client.apply(
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'allow-frontend', namespace: ns },
        spec: {
          podSelector: { matchLabels: { role: 'db' } },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [
            {
              from: [
                { podSelector: { matchLabels: { role: 'frontend' } } },
                { ipBlock: { cidr: '192.168.0.0/24', except: ['192.168.0.128/25'] } },
              ],
              ports: [{ protocol: 'TCP', port: 'redis' }],
            },
          ],
          egress: [
            { to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ protocol: 'UDP', port: 53 }] },
          ],
        },
      },
      { fieldManager: 'aci-e2e' },
    );
    const dn = hostprotPolicyDn(h.config, ns, 'allow-frontend');
    const expected = (list: string[]) => [...list.map((ip) => `${ip}/32`), '192.168.0.0/25'].sort();
    await eventually(
      async () =>
        JSON.stringify(remoteIps(dn)) === JSON.stringify([...expected(ips), '10.0.0.0/8'].sort()),
      'hostprotPol with the frontend pods',
    );
    const owned = h.owned();
    const rule = owned.get(`${dn}/subj-networkpolicy-ingress/rule-0_0_6379-ipv4`);
    t.is(rule?.protocol, 'tcp');
    t.is(rule?.fromPort, '6379');
    t.is(owned.get(`${dn}/subj-networkpolicy-egress/rule-0_0-ipv4`)?.protocol, 'udp');

    await h.client.apply(pod(ns, 'fe-3', { role: 'frontend' }), { fieldManager: 'aci-e2e' });
    ips.push(await runningIp(ns, 'fe-3'));
    await eventually(async () => remoteIps(dn).includes(`${ips[2]}/32`), 'new frontend pod added');
    await h.client.delete({ apiVersion: 'v1', kind: 'Pod', name: 'fe-1', namespace: ns });
    await eventually(
      async () => !remoteIps(dn).includes(`${ips[0]}/32`),
      'deleted frontend pod removed',
      90_000,
    );
    t.deepEqual(remoteIps(dn), [...expected(ips.slice(1)), '10.0.0.0/8'].sort());

    await h.client.delete({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      name: 'allow-frontend',
      namespace: ns,
    });
    await eventually(async () => !h.owned().has(dn), 'hostprotPol removed with the NetworkPolicy');
  },
);

test.serial('the VMM inventory lists the namespace, its pods and the nodes', async (t) => {
  const d = dns(h.config);
  const ns = await h.createNamespace('inv');
  await h.client.apply(pod(ns, 'p1', {}), { fieldManager: 'aci-e2e' });
  await eventually(
    async () => h.owned().get(`${d.injectedContainer}/ns-[${ns}]/grp-[p1]`),
    'vmmInjectedContGrp of p1',
  );
  const hosts = [...h.owned().values()].filter((a) => a.class === 'vmmInjectedHost');
  t.is(hosts.length, 2);
});
