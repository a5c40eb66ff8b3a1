/** Prometheus metrics of the operator process (prom-client, its own registry). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'aci_operator_reconcile_total',
    help: 'Reconciles by result (success, error, requeue).',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'aci_operator_reconcile_errors_total',
    help: 'Reconciles that returned an error and were retried with backoff.',
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'aci_operator_reconcile_duration_seconds',
    help: 'Duration of one reconcile.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'aci_operator_workqueue_depth',
    help: 'Keys waiting in the work queue.',
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'aci_operator_api_requests_total',
    help: 'Requests to the Kubernetes API by verb.',
    labelNames: ['verb'],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'aci_operator_leader',
    help: '1 while this replica holds the leader Lease.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'aci_operator_' });
  }
}
