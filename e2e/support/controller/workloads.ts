/** Workload objects for the e2e tests: Deployments pinned to the test's kwok nodes, spread one per node. */
import type { KubeObject } from '../../../lib/kube/types.ts';
import { ScopeLabel } from './harness.ts';

export interface DeploymentOptions {
  namespace: string;
  name: string;
  scope: string;
  replicas: number;
  labels?: Record<string, string>;
  ports?: { name: string; containerPort: number }[];
  /** One pod per node (required anti-affinity on the host name). */
  spread?: boolean;
}

export function deployment(o: DeploymentOptions): KubeObject {
  const labels = { app: o.name, ...(o.labels ?? {}) };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: { app: o.name } },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { [ScopeLabel]: o.scope },
          tolerations: [{ operator: 'Exists' }],
          ...(o.spread
            ? {
                affinity: {
                  podAntiAffinity: {
                    requiredDuringSchedulingIgnoredDuringExecution: [
                      {
                        labelSelector: { matchLabels: { app: o.name } },
                        topologyKey: 'kubernetes.io/hostname',
                      },
                    ],
                  },
                },
              }
            : {}),
          containers: [{ name: 'app', image: 'fake', ...(o.ports ? { ports: o.ports } : {}) }],
        },
      },
    },
  };
}

export function loadBalancerService(
  namespace: string,
  name: string,
  selector: Record<string, string>,
  ports = [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { type: 'LoadBalancer', selector, ports },
  };
}
