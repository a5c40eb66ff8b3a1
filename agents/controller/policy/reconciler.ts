/**
 * Policy mapping shell: NetworkPolicies → hostprotPol (one APIC owner key
 * each, recomputed when a policy or a pod/namespace it may select changes;
 * the sync engine's diff sends only the hostprotRemoteIp that changed),
 * EndpointGroupMapping status, the static objects, and the VMM inventory.
 */
import type { V1Namespace, V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import {
  apiVersion as aciApiVersion,
  type EndpointGroupMappingStatus,
} from '../../../crds/index.ts';
import type { Condition } from '../../../lib/kube/conditions.ts';
import type { ReconcileResult } from '../../../lib/kube/workqueue.ts';
import { ApicConnectionError } from '../apic/client.ts';
import type { NetworkPolicy, Pod } from '../caches.ts';
import { FieldManager, type ControllerContext } from '../context.ts';
import {
  clusterDefaults,
  endpointGroupDn,
  mappingConditions,
  matchedPods,
  ownedEndpointGroupDns,
  type EpgValidity,
} from './epg.ts';
import { eligiblePod, hostprotPolicy } from './hostprot.ts';
import { HostsInventoryKey, hostInventory, inventoryKey, namespaceInventory } from './inventory.ts';
import { StaticKey, staticObjects } from './static.ts';

export const networkPolicyKey = (key: string) => `np/${key}`;

/** Whether a pod change can alter a policy's peers: same namespace, or the policy selects by namespace. */
export function policyMayConcern(policy: NetworkPolicy, podNamespace: string): boolean {
  if (policy.metadata.namespace === podNamespace) return true;
  const rules = [
    ...(policy.spec?.ingress ?? []).map(
      (r) =>
        (r as { _from?: unknown[]; from?: unknown[] })._from ??
        (r as { from?: unknown[] }).from ??
        [],
    ),
    ...(policy.spec?.egress ?? []).map((r) => r.to ?? []),
  ];
  return rules.some(
    (peers) =>
      peers.length === 0 ||
      (peers as { namespaceSelector?: unknown; ipBlock?: unknown }[]).some(
        (p) => p.namespaceSelector !== undefined || p.ipBlock !== undefined,
      ),
  );
}

export class PolicyReconciler {
  private readonly epgCache = new Map<string, { validity: EpgValidity; at: number }>();

  constructor(private readonly ctx: ControllerContext) {}

  syncStatic(): void {
    this.ctx.apic.setDesired(StaticKey, staticObjects(this.ctx.config));
  }

  private peerContext(): { pods: V1Pod[]; namespaces: V1Namespace[] } {
    const { caches } = this.ctx;
    return {
      pods: caches.pods.list().filter((p) => eligiblePod(p as V1Pod)) as V1Pod[],
      namespaces: caches.namespaces.list() as V1Namespace[],
    };
  }

  reconcileNetworkPolicy(key: string): void {
    const { caches, apic, config } = this.ctx;
    const policy = caches.networkPolicies.get(key);
    if (!policy) {
      apic.setDesired(networkPolicyKey(key), undefined);
      return;
    }
    apic.setDesired(networkPolicyKey(key), [
      hostprotPolicy(config, policy as V1NetworkPolicy, this.peerContext()),
    ]);
  }

  async reconcileMapping(key: string): Promise<ReconcileResult | void> {
    const { caches, config, client } = this.ctx;
    const mapping = caches.endpointGroupMappings.get(key);
    if (!mapping) return;
    const namespace = mapping.metadata.namespace ?? '';
    const all = caches.endpointGroupMappings
      .list()
      .filter((m) => m.metadata.namespace === namespace);
    const pods = caches.podsIn(namespace).filter((p: Pod) => !p.metadata.deletionTimestamp);
    const matched = matchedPods(mapping, all, pods, clusterDefaults(config));
    const dn = endpointGroupDn(config, mapping);
    const validity = await this.validate(dn);
    const generation = mapping.metadata.generation;
    const previous = mapping.status;
    const conditions = mappingConditions(
      previous?.conditions as Condition[] | undefined,
      validity,
      dn,
      generation,
      new Date(),
    );
    const status: EndpointGroupMappingStatus = {
      observedGeneration: generation,
      matchedPods: matched,
      endpointGroupDn: dn,
      conditions,
    };
    const same =
      previous?.observedGeneration === generation &&
      previous?.matchedPods === matched &&
      previous?.endpointGroupDn === dn &&
      JSON.stringify(previous?.conditions?.map((c) => [c.type, c.status, c.reason])) ===
        JSON.stringify(conditions.map((c) => [c.type, c.status, c.reason]));
    if (!same) {
      await client.apply(
        {
          apiVersion: aciApiVersion,
          kind: 'EndpointGroupMapping',
          metadata: { name: mapping.metadata.name, namespace },
          status,
        },
        { fieldManager: FieldManager, subresource: 'status', force: true },
      );
    }
    // Someone may create (or delete) the EPG on the APIC: look again later.
    return {
      requeueAfterMs: validity === 'unknown' ? 5_000 : validity === 'notFound' ? 10_000 : 60_000,
    };
  }

  private async validate(dn: string): Promise<EpgValidity> {
    if (ownedEndpointGroupDns(this.ctx.config).has(dn)) return 'owned';
    const cached = this.epgCache.get(dn);
    if (cached && Date.now() - cached.at < 10_000) return cached.validity;
    let validity: EpgValidity;
    try {
      const result = await this.ctx.apic.client.getMo(dn);
      validity = result.imdata.length > 0 ? 'found' : 'notFound';
    } catch (error) {
      if (!(error instanceof ApicConnectionError))
        this.ctx.log.warn({ dn, err: String(error) }, 'Failed to look up EPG on the APIC');
      validity = 'unknown';
    }
    this.epgCache.set(dn, { validity, at: Date.now() });
    return validity;
  }

  reconcileInventory(namespace: string): void {
    const { caches, apic, config } = this.ctx;
    if (namespace === HostsInventoryKey) {
      apic.setDesired(HostsInventoryKey, hostInventory(config, caches.nodes.list()));
      return;
    }
    if (!caches.namespaces.get(namespace)) {
      apic.setDesired(inventoryKey(namespace), undefined);
      return;
    }
    const inNs = <T extends { metadata: { namespace?: string } }>(list: readonly T[]) =>
      list.filter((o) => o.metadata.namespace === namespace);
    apic.setDesired(
      inventoryKey(namespace),
      namespaceInventory(config, {
        namespace,
        deployments: inNs(caches.deployments.list()),
        replicaSets: inNs(caches.replicaSets.list()),
        services: inNs(caches.services.list()),
        endpointSlices: inNs(caches.endpointSlices.list()),
        pods: caches.podsIn(namespace),
      }),
    );
  }
}
