/**
 * The controller provisions a fresh APIC simulator from nothing but the
 * AciFabric (spec.aci.provision: Fabric), against a real API server: the
 * pools, domains, AEP relations, infra VLAN, opflex settings, contracts and
 * EPG relations acc-provision used to make appear as owned objects; what a
 * fabric or network admin made (the AEP, the external EPG) is passed
 * through and never changed, and status says what was
 * provisioned and which DNs it left alone. Only the VRF and L3Out (which
 * acc-provision requires too), the AEP, and the VMM controller's inventory
 * container (which an APIC derives from vmmCtrlrP) exist before.
 */
import test from 'ava';
import { apiVersion as aciApiVersion, type AciFabric } from '../../crds/index.ts';
import { eventually } from '../../e2e/support/cluster.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { flattenActual } from './apic/diff.ts';
import { makeMo as mo, type Mo } from './apic/mo.ts';
import type { RunningController } from './controller.ts';
import { adoptDryRun, createApicUser } from './provision/commands.ts';
import { FabricKey, provisionObjects, TenantKey } from './provision/render.ts';
import { harness, waitLeading, type Harness } from '../../e2e/support/controller/harness.ts';

let h: Harness;
let controller: RunningController;

const treeAttrs = (dn: string) => h.sim.tree.dump().find((o) => o.dn === dn)?.attrs;

/** What the fabric team made before the cluster: the nodes' AEP. */
const aep = 'uni/infra/attentp-aep1';
/** The APIC's own opflex settings: every APIC has them, so they are never ours. */
const settings = 'uni/infra/settings';
let settingsBefore: Record<string, string> | undefined;
/** The external EPG the L3Out allow contract is provided by: the network team's (the harness made it). */
const externalEpg = 'uni/tn-common/out-l3out1/instP-ext1';

test.before(async () => {
  h = await harness({
    slot: 13,
    aci: { provision: 'Fabric', customEndpointGroups: ['group1'] },
  });
  h.sim.externalPost(
    'uni/infra',
    mo('infraAttEntityP', { dn: aep, name: 'aep1', descr: 'fabric team' }) as Mo,
  );
  settingsBefore = treeAttrs(settings);
  await h.addNodes(1);
  controller = await h.start();
  await waitLeading(controller);
});

test.after.always(async () => {
  await h?.cleanup();
});

const foreign = new Set([aep, settings]);

/** Desired DNs of one provisioning key the cluster does not own yet (after up to 90 s). */
async function notOwned(key: typeof FabricKey | typeof TenantKey): Promise<string[]> {
  const wanted = [...flattenActual(provisionObjects(h.config)[key]).keys()].filter(
    (dn) => !foreign.has(dn),
  );
  const left = () => wanted.filter((dn) => !h.owned().has(dn));
  return eventually(
    async () => (left().length === 0 ? [] : undefined),
    `${key} owned`,
    90_000,
  ).catch(() => left());
}

test.serial('the tenant objects acc-provision made are created and owned', async (t) => {
  t.deepEqual(await notOwned(TenantKey), []);
  const { aci } = h.config;
  t.true(h.owned().has(`uni/tn-${aci.tenant}/ap-${aci.applicationProfile}/epg-group1`));
});

test.serial('the fabric objects acc-provision made are created and owned', async (t) => {
  t.deepEqual(await notOwned(FabricKey), []);
  const owned = h.owned();
  t.is(owned.get(`uni/vmmp-Kubernetes/dom-${h.config.aci.vmmDomain.name}`)?.encapMode, 'vxlan');
  t.is(owned.get(`uni/infra/vlanns-[${h.config.systemId}-pool]-static`)?.allocMode, 'static');
  t.is(
    owned.get(`${aep}/provacc/rsfuncToEpg-[uni/tn-infra/ap-access/epg-default]`)?.encap,
    'vlan-4093',
  );
});

test.serial(
  'objects the cluster does not own are passed through, never changed, and reported',
  async (t) => {
    t.is(treeAttrs(aep)?.descr, 'fabric team');
    t.false((treeAttrs(aep)?.annotation ?? '').includes(h.config.aci.objectPrefix));
    t.truthy(settingsBefore, 'a fresh APIC has its opflex settings');
    t.deepEqual(treeAttrs(settings), settingsBefore);
    const ref = { apiVersion: aciApiVersion, kind: 'AciFabric', name: h.fabricName };
    const status = await eventually(async () => {
      const fabric = await h.client.read<AciFabric & KubeObject>(ref);
      const apic = fabric?.status?.apic;
      return apic?.provisioned === 'Fabric' &&
        (apic.conflicts ?? []).includes(aep) &&
        (apic.conflicts ?? []).includes(settings)
        ? apic
        : undefined;
    }, 'status.apic.provisioned and conflicts');
    t.false(status.conflicts?.some((dn) => dn.startsWith(`${externalEpg}/`)) ?? true);
    t.true(h.owned().has(`${externalEpg}/rsprov-${h.config.systemId}-l3out-allow-all`));
    t.false((treeAttrs(externalEpg)?.annotation ?? '').includes(h.config.aci.objectPrefix));
  },
);

test.serial(
  "the EPGs' contracts let pods reach DNS and the API server and nodes probe pods",
  (t) => {
    const { aci } = h.config;
    const ap = `uni/tn-${aci.tenant}/ap-${aci.applicationProfile}`;
    const owned = h.owned();
    const has = (epg: string, rn: string) => owned.has(`${ap}/epg-${epg}/${rn}`);
    const c = (name: string) =>
      aci.legacyNaming ? name : `aci-containers-${h.config.systemId}-${name.replace(/^kube-/, '')}`;
    for (const epg of [aci.defaultEndpointGroup.name, 'group1']) {
      t.true(has(epg, `rscons-${c('dns')}`), `${epg} consumes DNS`);
      t.true(has(epg, `rscons-${c('kube-api')}`), `${epg} consumes the API server`);
      t.true(has(epg, `rsprov-${c('health-check')}`), `${epg} provides health checks`);
    }
    const nodes = aci.nodesEndpointGroup.name;
    t.true(has(nodes, `rsprov-${c('dns')}`));
    t.true(has(nodes, `rsprov-${c('kube-api')}`));
    t.true(has(nodes, `rscons-${c('health-check')}`));
    t.is(
      owned.get(`uni/tn-${aci.tenant}/flt-${c('kube-api')}-filter/e-aci-containers-api`)?.dFromPort,
      '6443',
    );
  },
);

/** An AciFabric of its own for the one-time commands: certificate login, the simulator's CA by reference. */
async function commandFabric(): Promise<string> {
  const name = `${h.fabricName}-cmd`;
  const secret = (n: string, data: Record<string, string>) =>
    h.client.apply(
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: n, namespace: h.namespace },
        stringData: data,
      } as unknown as KubeObject,
      { fieldManager: 'aci-e2e' },
    );
  await secret('apic-admin', { username: 'admin', password: 'secret-pw' });
  await secret('apic-ca', { 'ca.crt': h.apic.caPem });
  const fabric = await h.client.read<AciFabric & KubeObject>({
    apiVersion: aciApiVersion,
    kind: 'AciFabric',
    name: h.fabricName,
  });
  await h.client.apply(
    {
      apiVersion: aciApiVersion,
      kind: 'AciFabric',
      metadata: { name, annotations: { 'aci.cni.dev/paused': 'true' } },
      spec: {
        ...fabric?.spec,
        namespace: h.namespace,
        apic: {
          hosts: ['127.0.0.1'],
          credentials: {
            method: 'Certificate',
            secretRef: { name: 'apic-user' },
            username: `${h.id}-user`,
            certificateName: `${h.id}-user.crt`,
          },
          caBundleSecretRef: { name: 'apic-ca' },
        },
      },
    } as unknown as KubeObject,
    { fieldManager: 'aci-e2e' },
  );
  return name;
}

test.serial(
  'create-user makes the APIC user and its certificate from admin credentials by reference, then the Secret',
  async (t) => {
    const fabric = await commandFabric();
    t.teardown(() =>
      h.client
        .delete({ apiVersion: aciApiVersion, kind: 'AciFabric', name: fabric })
        .then(() => undefined),
    );
    const user = await createApicUser({
      kube: h.client,
      fabric,
      adminSecret: 'apic-admin',
      apicHosts: [h.apic.url],
    });
    t.is(user.username, `${h.id}-user`);
    const userTree = h.sim.tree
      .dump()
      .filter((o) => o.dn.startsWith(`uni/userext/user-${user.username}`));
    t.true(userTree.some((o) => o.cls === 'aaaUserCert' && o.attrs.name === user.certificateName));
    const secret = await h.client.get<KubeObject & { data?: Record<string, string> }>({
      apiVersion: 'v1',
      kind: 'Secret',
      name: 'apic-user',
      namespace: h.namespace,
    });
    t.deepEqual(Object.keys(secret.data ?? {}).sort(), ['certificate', 'privateKey', 'username']);
    // The dry run logs in with that Secret, and lists the cluster's objects without writing any.
    h.sim.resetStats();
    const plan = await adoptDryRun({ kube: h.client, fabric, apicHosts: [h.apic.url] });
    t.regex(plan, /^unchanged /m);
    t.is(h.sim.stats.deletes, 0);
  },
);
