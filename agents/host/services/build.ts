/**
 * Pure: Services + EndpointSlices + ServiceGraphs -> the ServiceFiles the
 * opflex agent load-balances from (agents/opflex/files.ts). One file per
 * Service that has a frontend: its ClusterIPs, its external addresses
 * (ServiceGraph external IPs, LoadBalancer ingress IPs, spec.externalIPs)
 * and node ports, with the ready backends of its EndpointSlices.
 *
 * Target ports: a numeric targetPort is the same on every backend; a named
 * one resolves per pod, and the EndpointSlice already carries the
 * resolution (its port named like the Service port). A backend whose port
 * differs from the Service port's targetPort gets an object entry with
 * `targetPorts`; the others stay plain IPs.
 */
import { z } from 'zod';
import { ServiceFile } from '../../opflex/files.ts';
import type { ServiceBackend } from '../../opflex/files.ts';
import type { EndpointSliceObject, ServiceGraphObject, ServiceObject } from '../kube/objects.ts';

/** The label that ties an EndpointSlice to its Service. */
export const ServiceNameLabel = 'kubernetes.io/service-name';
export const DefaultAffinityTimeoutSeconds = 10800;

export interface ServiceInputs {
  readonly services: readonly ServiceObject[];
  readonly endpointSlices: readonly EndpointSliceObject[];
  readonly serviceGraphs: readonly ServiceGraphObject[];
}

export interface BuiltServices {
  readonly files: ServiceFile[];
  /** Services left out because their file would be invalid (`namespace/name` and why). */
  readonly rejected: { key: string; reason: string }[];
}

type Protocol = 'TCP' | 'UDP' | 'SCTP';
const protocolOf = (p: string | undefined): Protocol => (p === 'UDP' || p === 'SCTP' ? p : 'TCP');

const keyOf = (o: { metadata: { namespace?: string; name: string } }): string =>
  `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export function buildServiceFiles(input: ServiceInputs): BuiltServices {
  const slicesByService = new Map<string, EndpointSliceObject[]>();
  for (const slice of input.endpointSlices) {
    const service = slice.metadata.labels?.[ServiceNameLabel];
    if (!service) continue;
    const key = `${slice.metadata.namespace ?? ''}/${service}`;
    slicesByService.set(key, [...(slicesByService.get(key) ?? []), slice]);
  }
  const graphs = new Map(input.serviceGraphs.map((g) => [keyOf(g), g]));
  const files: ServiceFile[] = [];
  const rejected: { key: string; reason: string }[] = [];
  for (const service of [...input.services].sort((a, b) => keyOf(a).localeCompare(keyOf(b)))) {
    const key = keyOf(service);
    const draft = serviceFileDraft(service, slicesByService.get(key) ?? [], graphs.get(key));
    if (!draft) continue;
    const parsed = ServiceFile.safeParse(draft);
    if (parsed.success) files.push(parsed.data);
    else rejected.push({ key, reason: z.prettifyError(parsed.error) });
  }
  return { files, rejected };
}

/** The unvalidated file of one Service, or undefined when it has nothing to load-balance. */
export function serviceFileDraft(
  service: ServiceObject,
  slices: readonly EndpointSliceObject[],
  graph: ServiceGraphObject | undefined,
): z.input<typeof ServiceFile> | undefined {
  const spec = service.spec ?? {};
  if (spec.type === 'ExternalName') return undefined;
  const frontends = [
    ...clusterIPs(service).map((ip) => ({ ip, kind: 'ClusterIP' as const })),
    ...externalIPs(service, graph).map((ip) => ({ ip, kind: 'External' as const })),
  ];
  const exposesNodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  const servicePorts = spec.ports ?? [];
  const hasNodePort = exposesNodePorts && servicePorts.some((p) => p.nodePort);
  if (frontends.length === 0 && !hasNodePort) return undefined;

  const resolutions = backendPorts(slices);
  const ports = servicePorts.map((p) => {
    const name = p.name ?? '';
    return {
      name,
      protocol: protocolOf(p.protocol),
      port: p.port,
      targetPort: defaultTargetPort(p.targetPort, p.port, name, resolutions),
      ...(exposesNodePorts && p.nodePort ? { nodePort: p.nodePort } : {}),
    };
  });
  const backends = [...resolutions.entries()]
    .sort(([a], [b]) => compareIps(a, b))
    .map(([ip, byName]): string | ServiceBackend => {
      const targetPorts: Record<string, number> = {};
      for (const port of ports) {
        const resolved = byName.get(port.name);
        if (resolved !== undefined && resolved !== port.targetPort)
          targetPorts[port.name] = resolved;
      }
      return Object.keys(targetPorts).length === 0 ? ip : { ip, targetPorts };
    });
  const clientIp = spec.sessionAffinity === 'ClientIP';
  return {
    uuid: service.metadata.uid ?? `${service.metadata.namespace ?? ''}_${service.metadata.name}`,
    namespace: service.metadata.namespace ?? '',
    name: service.metadata.name,
    frontends,
    ports,
    backends,
    sessionAffinity: clientIp ? 'ClientIP' : 'None',
    affinityTimeoutSeconds: clientIp
      ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DefaultAffinityTimeoutSeconds)
      : DefaultAffinityTimeoutSeconds,
  };
}

function clusterIPs(service: ServiceObject): string[] {
  const spec = service.spec ?? {};
  const ips =
    spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : [spec.clusterIP ?? ''];
  return ips.filter((ip) => ip !== '' && ip !== 'None');
}

/** ServiceGraph first (the controller's allocation), then what the Service itself says. */
function externalIPs(service: ServiceObject, graph: ServiceGraphObject | undefined): string[] {
  const ingress = (service.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');
  const all = [
    ...(graph?.spec.externalIPs ?? []),
    ...ingress,
    ...(service.spec?.externalIPs ?? []),
  ];
  return [...new Set(all.filter((ip) => ip !== ''))];
}

/**
 * Ready endpoint addresses -> (service port name -> port on that backend).
 * `ready` unset means ready (EndpointConditions API doc); terminating
 * endpoints are not ready, so they are left out too.
 */
function backendPorts(slices: readonly EndpointSliceObject[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    const slicePorts = (slice.ports ?? [])
      .filter((p): p is typeof p & { port: number } => typeof p.port === 'number')
      .map((p) => [p.name ?? '', p.port] as const);
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      for (const ip of endpoint.addresses) {
        const byName = out.get(ip) ?? new Map<string, number>();
        for (const [name, port] of slicePorts) byName.set(name, port);
        out.set(ip, byName);
      }
    }
  }
  return out;
}

/**
 * The port-level targetPort: a number as given; a named port resolves to
 * the most common resolution among the backends (so most backends stay
 * plain IPs), or the service port while no backend resolves it.
 */
function defaultTargetPort(
  targetPort: number | string | undefined,
  port: number,
  name: string,
  resolutions: ReadonlyMap<string, ReadonlyMap<string, number>>,
): number {
  if (typeof targetPort === 'number') return targetPort;
  if (targetPort === undefined || targetPort === '') return port;
  if (/^\d+$/.test(targetPort)) return Number(targetPort);
  const counts = new Map<number, number>();
  for (const byName of resolutions.values()) {
    const resolved = byName.get(name);
    if (resolved !== undefined) counts.set(resolved, (counts.get(resolved) ?? 0) + 1);
  }
  const best = [...counts].sort(([pa, ca], [pb, cb]) => cb - ca || pa - pb)[0];
  return best ? best[0] : port;
}

/** IPv4 before IPv6, then numerically within a family, so files are stable. */
function compareIps(a: string, b: string): number {
  const v6a = a.includes(':');
  const v6b = b.includes(':');
  if (v6a !== v6b) return v6a ? 1 : -1;
  if (!v6a) {
    const na = a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const nb = b.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    return na - nb;
  }
  return a.localeCompare(b);
}
