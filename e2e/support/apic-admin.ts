/**
 * What a network admin (or acc-provision) has created on the APIC before a
 * cluster's AciFabric exists: the VRF and L3Out it names, the VMM domain and
 * its controller. The demo and the real-node tests seed a fresh APIC
 * simulator with it through the REST API, as an admin's script would.
 */
import type { ApicClient } from '../../agents/controller/apic/client.ts';
import type { AciFabricSpec } from '../../crds/index.ts';
import { aciNames } from '../../lib/config/naming.ts';
import { eventually } from './cluster.ts';

export async function seedFabricPrerequisites(
  admin: ApicClient,
  spec: AciFabricSpec,
): Promise<string> {
  const names = aciNames(spec);
  const { vrf, l3out } = spec.aci;
  await admin.post(`uni/tn-${vrf.tenant}`, {
    fvTenant: { attributes: { dn: `uni/tn-${vrf.tenant}`, name: vrf.tenant } },
  });
  await admin.post(`uni/tn-${vrf.tenant}/ctx-${vrf.name}`, {
    fvCtx: { attributes: { dn: `uni/tn-${vrf.tenant}/ctx-${vrf.name}`, name: vrf.name } },
  });
  await admin.post(`uni/tn-${vrf.tenant}/out-${l3out.name}`, {
    l3extOut: {
      attributes: { dn: `uni/tn-${vrf.tenant}/out-${l3out.name}`, name: l3out.name },
      children: l3out.externalNetworks.map((name) => ({
        l3extInstP: { attributes: { rn: `instP-${name}`, name } },
      })),
    },
  });
  await admin.post(`uni/vmmp-Kubernetes/dom-${names.vmmDomain}`, {
    vmmDomP: {
      attributes: { dn: `uni/vmmp-Kubernetes/dom-${names.vmmDomain}`, name: names.vmmDomain },
    },
  });
  const controllerDn = `comp/prov-Kubernetes/ctrlr-[${names.vmmDomain}]-${names.vmmController}`;
  await admin.post(controllerDn, {
    compCtrlr: {
      attributes: { dn: controllerDn, name: names.vmmController, domName: names.vmmDomain },
      children: [{ vmmInjectedCont: { attributes: { rn: 'injcont' } } }],
    },
  });
  return `tenant ${vrf.tenant}: VRF ${vrf.name}, L3Out ${l3out.name}; VMM domain ${names.vmmDomain}`;
}

/**
 * Custom EPGs a network admin adds for namespaces that get their own EPG
 * (the original's users do this in the APIC GUI or with Ansible): each in
 * the cluster's tenant, in the named application profile, on the cluster's
 * pod bridge domain, as the original's documentation tells them to.
 */
export async function seedCustomEndpointGroups(
  admin: ApicClient,
  spec: AciFabricSpec,
  groups: readonly { applicationProfile: string; name: string }[],
): Promise<string> {
  const names = aciNames(spec);
  // The cluster's tenant is the controller's to create; an admin adds EPGs to it once it is there.
  await eventually(
    async () => (await admin.getMo(`uni/tn-${names.tenant}`)).imdata.length > 0,
    `the controller to create tenant ${names.tenant}`,
    60_000,
  );
  for (const group of groups) {
    const apDn = `uni/tn-${names.tenant}/ap-${group.applicationProfile}`;
    await admin.post(apDn, {
      fvAp: {
        attributes: { dn: apDn, name: group.applicationProfile },
        children: [
          {
            fvAEPg: {
              attributes: { rn: `epg-${group.name}`, name: group.name },
              children: [{ fvRsBd: { attributes: { tnFvBDName: names.podBridgeDomain } } }],
            },
          },
        ],
      },
    });
  }
  return groups.map((g) => `${names.tenant}/${g.applicationProfile}/${g.name}`).join(', ');
}
