/** Prometheus metrics of the controller, one registry per instance (tests run several in one process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'aci_controller_reconciles_total',
    help: 'Reconciles by queue and result.',
    labelNames: ['queue', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileSeconds = new Histogram({
    name: 'aci_controller_reconcile_duration_seconds',
    help: 'Reconcile duration by queue.',
    labelNames: ['queue'] as const,
    buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'aci_controller_queue_depth',
    help: 'Keys waiting per work queue.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'aci_controller_leader',
    help: '1 while this replica leads.',
    registers: [this.registry],
  });
  readonly apicConnected = new Gauge({
    name: 'aci_controller_apic_connected',
    help: '1 while the APIC session is up.',
    registers: [this.registry],
  });
  readonly apicObjectsOwned = new Gauge({
    name: 'aci_controller_apic_objects_owned',
    help: 'APIC objects owned by this cluster.',
    registers: [this.registry],
  });
  readonly podIPPools = new Gauge({
    name: 'aci_controller_podippools',
    help: 'Nodes with pod address chunks.',
    registers: [this.registry],
  });
  readonly podAddressesAssigned = new Gauge({
    name: 'aci_controller_pod_addresses_assigned',
    help: 'Pod addresses assigned to nodes in chunks.',
    registers: [this.registry],
  });
  readonly loadBalancerIPs = new Gauge({
    name: 'aci_controller_load_balancer_ips',
    help: 'LoadBalancer IPs in use.',
    registers: [this.registry],
  });

  constructor(defaultMetrics: boolean) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
