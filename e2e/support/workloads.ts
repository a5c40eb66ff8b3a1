/**
 * Test workloads for real nodes: agnhost servers spread over the nodes, and
 * connectivity probes run inside a pod with `agnhost connect`, as the
 * upstream network e2e suites probe (exit status 0 means connected).
 */
import type { V1NetworkPolicy, V1NetworkPolicyPeer } from '@kubernetes/client-node';
import ipaddr from 'ipaddr.js';
import type { KubeClient } from '../../lib/kube/client.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { eventually } from './cluster.ts';
import type { ModelPod } from './opflex/netpol-model.ts';

export interface PodInfo {
  name: string;
  node: string;
  ip: string;
}

/** agnhost netexec: HTTP on 8080, UDP on 8081, ready when it serves. */
export function agnhostPodSpec(image: string): Record<string, unknown> {
  return {
    terminationGracePeriodSeconds: 1,
    containers: [
      {
        name: 'agnhost',
        image,
        imagePullPolicy: 'IfNotPresent',
        args: ['netexec', '--http-port=8080', '--udp-port=8081'],
        ports: [
          { name: 'http', containerPort: 8080 },
          { name: 'udp', containerPort: 8081, protocol: 'UDP' },
        ],
        readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 2 },
      },
    ],
  };
}

export function agnhostDeployment(
  namespace: string,
  name: string,
  replicas: number,
  image: string,
): KubeObject {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          // Spread evenly, so every probe matrix has same-node and cross-node pairs.
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'DoNotSchedule',
              labelSelector: { matchLabels: labels },
            },
          ],
          ...agnhostPodSpec(image),
        },
      },
    },
  } as KubeObject;
}

interface PodList {
  items: {
    metadata: { name: string; deletionTimestamp?: string };
    spec: { nodeName?: string };
    status: { podIP?: string; phase?: string };
  }[];
}

export async function podsOf(
  client: KubeClient,
  namespace: string,
  selector: string,
): Promise<PodInfo[]> {
  const { items } = await client.list<PodList['items'][number] & KubeObject>('v1', 'Pod', {
    namespace,
    labelSelector: selector,
  });
  return items
    .filter((p) => !p.metadata.deletionTimestamp && p.status.phase === 'Running' && p.status.podIP)
    .map((p) => ({ name: p.metadata.name, node: p.spec.nodeName ?? '', ip: p.status.podIP ?? '' }));
}

interface Exec {
  kubectl(args: string[], input?: string): Promise<string>;
}

/**
 * The real-node files' servers: a namespace with `replicas` agnhost pods (`app=server`, port
 * 8080) behind a ClusterIP Service `server` on port 80 (and, when asked, a NodePort Service
 * `server-np`), rolled out.
 */
export async function deployAgnhostServers(
  env: Exec,
  namespace: string,
  image: string,
  options: { replicas?: number; nodePort?: boolean } = {},
): Promise<void> {
  await env.kubectl(['create', 'namespace', namespace]);
  await env.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify(agnhostDeployment(namespace, 'server', options.replicas ?? 4, image)),
  );
  const expose = (...extra: string[]) =>
    env.kubectl([
      '-n',
      namespace,
      'expose',
      'deployment',
      'server',
      ...extra,
      '--port=80',
      '--target-port=8080',
    ]);
  await expose();
  if (options.nodePort) await expose('--name=server-np', '--type=NodePort');
  await env.kubectl(['-n', namespace, 'rollout', 'status', 'deployment/server', '--timeout=300s']);
}

/** Succeeds once `from` opens a TCP connection to `target` (host:port); retries until the deadline. */
export async function connect(
  env: Exec,
  namespace: string,
  from: string,
  target: string,
  timeoutMs = 30_000,
): Promise<void> {
  await eventually(
    () =>
      env
        .kubectl([
          '-n',
          namespace,
          'exec',
          from,
          '--',
          '/agnhost',
          'connect',
          target,
          '--timeout=3s',
        ])
        .then(() => true),
    `${from} to connect to ${target}`,
    timeoutMs,
    500,
  );
}

/** One attempt: true when `from` reaches `target`, false when the connection fails or times out. */
export async function probe(
  env: Exec,
  namespace: string,
  from: string,
  target: string,
): Promise<boolean> {
  return env
    .kubectl(['-n', namespace, 'exec', from, '--', '/agnhost', 'connect', target, '--timeout=2s'])
    .then(
      () => true,
      () => false,
    );
}

/**
 * A pod of the upstream netpol model (x/y/z × a/b/c): agnhost serve-hostname
 * on TCP 80 and 81, one container per port, as the upstream suite runs it,
 * with the named ports the model's cases use.
 */
export function netpolModelPod(namespace: string, name: string, image: string): KubeObject {
  const serve = (port: number) => ({
    name: `serve-${port}-tcp`,
    image,
    imagePullPolicy: 'IfNotPresent',
    args: ['serve-hostname', '--tcp', '--http=false', `--port=${port}`],
    ports: [{ name: `serve-${port}-tcp`, containerPort: port, protocol: 'TCP' }],
    readinessProbe: { tcpSocket: { port }, periodSeconds: 2 },
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { pod: name } },
    spec: { terminationGracePeriodSeconds: 1, containers: [serve(80), serve(81)] },
  } as KubeObject;
}

/**
 * Probes every target from one pod in one exec (`agnhost connect` per target,
 * all at once, so a blocked target costs its timeout once, not once per
 * target): one line per target, "<target> ok" or "<target> no" (each a
 * single short write, so lines never interleave).
 */
export async function probeAll(
  env: Exec,
  namespace: string,
  from: string,
  targets: readonly string[],
): Promise<Map<string, boolean>> {
  const script = `for t in ${targets.join(' ')}; do (if /agnhost connect "$t" --timeout=1s >/dev/null 2>&1; then echo "$t ok"; else echo "$t no"; fi) & done; wait`;
  const out = await env.kubectl([
    '-n',
    namespace,
    'exec',
    from,
    '-c',
    'serve-80-tcp',
    '--',
    'sh',
    '-c',
    script,
  ]);
  const result = new Map<string, boolean>();
  for (const line of out.trim().split('\n')) {
    const [target = '', verdict] = line.split(' ');
    result.set(target, verdict === 'ok');
  }
  const missing = targets.filter((x) => !result.has(x));
  if (missing.length > 0) throw new Error(`${from}: no verdict for ${missing.join(' ')}`);
  return result;
}

/** A peer no pod address is in (TEST-NET-1): what an ipBlock covering no model pod becomes. */
const NoPodPeer: V1NetworkPolicyPeer = { ipBlock: { cidr: '192.0.2.1/32' } };

const inCidr = (ip: string, cidr: string): boolean =>
  ipaddr.parse(ip).match(ipaddr.parseCIDR(cidr));

/**
 * The netpol model's ipBlock peers name pods by the model's addresses
 * (`<prefix>.<namespace>.<pod>`); real pods have what their node's IPAM
 * gave them. Each ipBlock becomes the same set of pods in real addresses:
 * a block covering every model pod becomes the pod subnet (its excepted
 * pods as /32 excepts), any other block one /32 peer per covered pod that
 * is not excepted. The truth table (referenceAllowed on the real pods) is
 * the same as the model's.
 */
export function realizeIpBlocks(
  policies: readonly V1NetworkPolicy[],
  model: readonly ModelPod[],
  real: readonly ModelPod[],
  podSubnet: string,
): V1NetworkPolicy[] {
  const realIp = (m: ModelPod): string => {
    const r = real.find((p) => p.namespace === m.namespace && p.name === m.name);
    if (!r) throw new Error(`no real pod ${m.namespace}/${m.name}`);
    return r.ip;
  };
  const peers = (list: V1NetworkPolicyPeer[] | undefined): V1NetworkPolicyPeer[] | undefined =>
    list?.flatMap((peer) => {
      const block = peer.ipBlock;
      if (!block) return [peer];
      const excepted = (m: ModelPod) => (block.except ?? []).some((e) => inCidr(m.ip, e));
      const covered = model.filter((m) => inCidr(m.ip, block.cidr));
      if (covered.length === model.length) {
        const except = covered.filter(excepted).map((m) => `${realIp(m)}/32`);
        return [{ ipBlock: { cidr: podSubnet, ...(except.length > 0 ? { except } : {}) } }];
      }
      const kept = covered.filter((m) => !excepted(m));
      return kept.length > 0
        ? kept.map((m) => ({ ipBlock: { cidr: `${realIp(m)}/32` } }))
        : [NoPodPeer];
    });
  return policies.map((policy) => {
    const spec = policy.spec;
    if (!spec) return policy;
    return {
      ...policy,
      spec: {
        ...spec,
        ...(spec.ingress
          ? {
              ingress: spec.ingress.map((r) => ({
                ...r,
                ...(r._from ? { _from: peers(r._from) } : {}),
              })),
            }
          : {}),
        ...(spec.egress
          ? { egress: spec.egress.map((r) => ({ ...r, ...(r.to ? { to: peers(r.to) } : {}) })) }
          : {}),
      },
    };
  });
}

/**
 * A client-node V1NetworkPolicy as the API server takes it: client-node's
 * types name the ingress peers `_from` (its generator avoids the keyword),
 * the wire format `from`.
 */
export function networkPolicyManifest(policy: V1NetworkPolicy): KubeObject {
  const { ingress, ...spec } = policy.spec ?? { podSelector: {} };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: policy.metadata?.name ?? '', namespace: policy.metadata?.namespace ?? '' },
    spec: {
      ...spec,
      ...(ingress
        ? {
            ingress: ingress.map(({ _from, ...rule }) => ({
              ...rule,
              ...(_from ? { from: _from } : {}),
            })),
          }
        : {}),
    },
  } as KubeObject;
}
