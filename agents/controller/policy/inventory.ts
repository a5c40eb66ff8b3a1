/**
 * VMM inventory (pure): what the original posts under the Kubernetes VMM
 * controller's injected container (`comp/prov-Kubernetes/ctrlr-[dom]-ctrl/
 * injcont`) so the APIC GUI shows the cluster: vmmInjectedHost per node, and
 * per namespace a vmmInjectedNs with its deployments (vmmInjectedDepl),
 * replica sets (vmmInjectedReplSet), services (vmmInjectedSvc with ports and
 * endpoints) and pods (vmmInjectedContGrp). One owner key per namespace.
 */
import type { ControllerConfig } from '../../../lib/config/components.ts';
import { normalizeAttrs } from '../apic/diff.ts';
import { makeMo as mo, type Mo } from '../apic/mo.ts';
import { dns } from '../apicnames.ts';
import type { Deployment, EndpointSlice, Node, Pod, ReplicaSet, Service } from '../caches.ts';

export const inventoryKey = (namespace: string) => `inv/${namespace}`;
export const HostsInventoryKey = 'inv/hosts';

export function hostInventory(config: ControllerConfig, nodes: readonly Node[]): Mo[] {
  const base = dns(config).injectedContainer;
  return [...nodes]
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((n) =>
      mo('vmmInjectedHost', {
        dn: `${base}/host-[${n.metadata.name}]`,
        name: n.metadata.name,
        hostName: n.metadata.name,
        kernelVer: n.status?.nodeInfo?.kernelVersion ?? '',
        os: n.status?.nodeInfo?.osImage ?? '',
      }),
    );
}

export interface NamespaceInventory {
  namespace: string;
  deployments: readonly Deployment[];
  replicaSets: readonly ReplicaSet[];
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  pods: readonly Pod[];
}

const serviceType = (t: string | undefined) =>
  ({ LoadBalancer: 'loadBalancer', NodePort: 'nodePort', ExternalName: 'externalName' })[t ?? ''] ??
  'clusterIp';

const byName = <T extends { metadata: { name: string } }>(list: readonly T[]) =>
  [...list].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));

export function namespaceInventory(config: ControllerConfig, inv: NamespaceInventory): Mo[] {
  const base = dns(config).injectedContainer;
  const owner = (meta: { ownerReferences?: { kind: string; name: string }[] }, kind: string) =>
    meta.ownerReferences?.find((o) => o.kind === kind)?.name ?? '';
  const children: Mo[] = [
    ...byName(inv.deployments).map((d) =>
      mo('vmmInjectedDepl', {
        rn: `depl-[${d.metadata.name}]`,
        name: d.metadata.name,
        guid: d.metadata.uid ?? '',
        replicas: String(d.spec?.replicas ?? 1),
      }),
    ),
    ...byName(inv.replicaSets).map((r) =>
      mo('vmmInjectedReplSet', {
        rn: `rs-[${r.metadata.name}]`,
        name: r.metadata.name,
        guid: r.metadata.uid ?? '',
        deploymentName: owner(r.metadata, 'Deployment'),
      }),
    ),
    ...byName(inv.services).map((s) => {
      const slices = inv.endpointSlices.filter(
        (e) => e.metadata.labels?.['kubernetes.io/service-name'] === s.metadata.name,
      );
      const endpointPods = new Set(
        slices
          .flatMap((e) =>
            (e.endpoints ?? []).map((ep) =>
              ep.targetRef?.kind === 'Pod' ? (ep.targetRef.name ?? '') : '',
            ),
          )
          .filter(Boolean),
      );
      return mo(
        'vmmInjectedSvc',
        {
          rn: `svc-[${s.metadata.name}]`,
          name: s.metadata.name,
          guid: s.metadata.uid ?? '',
          type: serviceType(s.spec?.type),
          clusterIp:
            s.spec?.clusterIP && s.spec.clusterIP !== 'None' ? s.spec.clusterIP : '0.0.0.0',
          lbIp: s.status?.loadBalancer?.ingress?.[0]?.ip ?? '0.0.0.0',
        },
        [
          ...(s.spec?.ports ?? []).map((p) => {
            // The APIC names well-known ports (80 → http), in the RN too: build the RN from the stored form.
            const attrs = normalizeAttrs('vmmInjectedSvcPort', {
              port: String(p.port),
              protocol: (p.protocol ?? 'TCP').toLowerCase(),
              targetPort: String(p.targetPort ?? p.port),
              ...(p.nodePort ? { nodePort: String(p.nodePort) } : {}),
            });
            return mo('vmmInjectedSvcPort', {
              rn: `p-${attrs.port}-prot-${attrs.protocol}-t-${attrs.targetPort}`,
              ...attrs,
            });
          }),
          ...[...endpointPods]
            .sort()
            .map((pod) => mo('vmmInjectedSvcEp', { rn: `ep-${pod}`, contGrpName: pod, name: pod })),
        ],
      );
    }),
    ...byName(inv.pods).map((p) =>
      mo('vmmInjectedContGrp', {
        rn: `grp-[${p.metadata.name}]`,
        name: p.metadata.name,
        guid: p.metadata.uid ?? '',
        hostName: p.spec?.nodeName ?? '',
        computeNodeName: p.spec?.nodeName ?? '',
        replicaSetName: owner(p.metadata, 'ReplicaSet'),
      }),
    ),
  ];
  return [
    mo('vmmInjectedNs', { dn: `${base}/ns-[${inv.namespace}]`, name: inv.namespace }, children),
  ];
}
