/**
 * LoadBalancer IPs of Services (I/O shell around LoadBalancerIpam): decides,
 * writes `status.loadBalancer.ingress` and a condition by server-side apply
 * on the status subresource, records an Event when a request is refused, and
 * releases on deletion or type change. `rebuild()` adopts the addresses found
 * in Service statuses before anything is assigned.
 */
import { setCondition, type Condition } from '../../../lib/kube/conditions.ts';
import { keyOf } from '../../../lib/kube/types.ts';
import type { Family } from '../../../lib/net/cidr.ts';
import type { Service } from '../caches.ts';
import { FieldManager, type ControllerContext } from '../context.ts';
import { LoadBalancerIpam, type LoadBalancerDecision } from './loadbalancer.ts';

export const LoadBalancerIpsAnnotation = 'aci.cni.dev/load-balancer-ips';
export const LoadBalancerConditionType = 'aci.cni.dev/LoadBalancerIPAllocated';

export function isLoadBalancer(service: Service | undefined): boolean {
  return !!service && service.spec?.type === 'LoadBalancer' && !service.metadata.deletionTimestamp;
}

export function requestedIps(service: Service): string[] {
  const fromSpec = service.spec?.loadBalancerIP ? [service.spec.loadBalancerIP] : [];
  const fromAnnotation = (service.metadata.annotations?.[LoadBalancerIpsAnnotation] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return [...new Set([...fromSpec, ...fromAnnotation])];
}

export function serviceFamilies(service: Service): Family[] {
  const families = (service.spec?.ipFamilies ?? ['IPv4']).map(
    (f) => (f === 'IPv6' ? 6 : 4) as Family,
  );
  return families.length > 0 ? families : [4];
}

function ingressIps(service: Service): string[] {
  return (service.status?.loadBalancer?.ingress ?? [])
    .map((i) => i.ip)
    .filter((ip): ip is string => !!ip);
}

export class ServiceIpManager {
  readonly ipam: LoadBalancerIpam;

  constructor(private readonly ctx: ControllerContext) {
    this.ipam = new LoadBalancerIpam(
      ctx.config.network.externDynamic,
      ctx.config.network.externStatic,
    );
  }

  /** Adopts addresses in the statuses of existing LoadBalancer Services (oldest first). */
  async rebuild(): Promise<void> {
    const { items } = await this.ctx.client.list<Service>('v1', 'Service');
    const services = items
      .filter((s) => isLoadBalancer(s))
      .sort((a, b) =>
        (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''),
      );
    let adopted = 0;
    for (const service of services) {
      for (const ip of ingressIps(service))
        if (this.ipam.adopt(keyOf(service.metadata), ip)) adopted++;
    }
    this.ctx.log.info(
      { kind: 'Service', services: services.length, adopted },
      'Rebuilt LoadBalancer IPAM from Service statuses',
    );
  }

  /** Assigns (or releases) the Service's addresses and reports them; returns the addresses it holds. */
  async reconcile(key: string, service: Service | undefined): Promise<string[]> {
    if (!service || !isLoadBalancer(service)) {
      this.ipam.release(key);
      if (service && !service.metadata.deletionTimestamp) await this.clearStatus(service);
      return [];
    }
    const decision = this.ipam.decide(key, {
      families: serviceFamilies(service),
      requested: requestedIps(service),
    });
    await this.writeStatus(service, decision);
    return decision.kind === 'allocated' ? decision.ips : [];
  }

  private async writeStatus(service: Service, decision: LoadBalancerDecision): Promise<void> {
    const ips = decision.kind === 'allocated' ? decision.ips : [];
    const previous = (service.status?.conditions ?? []) as unknown as Condition[];
    const conditions = setCondition(
      previous,
      decision.kind === 'allocated'
        ? {
            type: LoadBalancerConditionType,
            status: 'True',
            reason: 'Allocated',
            message: `assigned ${ips.join(', ')}`,
          }
        : {
            type: LoadBalancerConditionType,
            status: 'False',
            reason: decision.reason,
            message: decision.message,
          },
      service.metadata.generation,
      new Date(),
    ).filter((c) => c.type === LoadBalancerConditionType);
    const current = ingressIps(service);
    const currentCondition = previous.find((c) => c.type === LoadBalancerConditionType);
    const unchanged =
      current.join(',') === ips.join(',') &&
      currentCondition?.status === conditions[0]?.status &&
      currentCondition?.reason === conditions[0]?.reason &&
      currentCondition?.message === conditions[0]?.message;
    if (unchanged) return;
    await this.ctx.client.apply(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: service.metadata.name, namespace: service.metadata.namespace },
        status: {
          loadBalancer: ips.length > 0 ? { ingress: ips.map((ip) => ({ ip })) } : {},
          conditions,
        },
      },
      { fieldManager: FieldManager, subresource: 'status', force: true },
    );
    if (decision.kind === 'refused') {
      this.ctx.log.warn(
        { kind: 'Service', name: keyOf(service.metadata), reason: decision.reason },
        'Refused LoadBalancer IP request',
      );
      this.ctx.events.record(service, 'Warning', decision.reason, decision.message);
    } else {
      this.ctx.log.info(
        { kind: 'Service', name: keyOf(service.metadata), ips },
        'Assigned LoadBalancer IPs',
      );
      this.ctx.events.record(
        service,
        'Normal',
        'LoadBalancerIPAllocated',
        `assigned ${ips.join(', ')}`,
      );
    }
  }

  /** Type changed away from LoadBalancer: drop the addresses and condition this controller wrote. */
  private async clearStatus(service: Service): Promise<void> {
    const ours = (service.status?.conditions ?? []).some(
      (c) => c.type === LoadBalancerConditionType,
    );
    if (!ours && ingressIps(service).length === 0) return;
    await this.ctx.client.apply(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: service.metadata.name, namespace: service.metadata.namespace },
        status: {},
      },
      { fieldManager: FieldManager, subresource: 'status', force: true },
    );
    this.ctx.log.info(
      { kind: 'Service', name: keyOf(service.metadata) },
      'Released LoadBalancer IPs',
    );
  }
}
