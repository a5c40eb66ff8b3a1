/**
 * What a network admin (or acc-provision) has created on the APIC before a
 * cluster's AciFabric exists: the VRF and L3Out it names, the VMM domain and
 * its controller. The demo and the real-node tests seed a fresh APIC
 * simulator with it through the REST API, as an admin's script would.
 */
import type { ApicClient } from '../../agents/controller/apic/client.ts';
import type { AciFabricSpec } from '../../crds/index.ts';
import { aciNames } from '../../lib/config/naming.ts';

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
