/**
 * The upstream NetworkPolicy e2e test model (kubernetes/kubernetes
 * test/e2e/network/netpol): namespaces x, y, z with pods a, b, c each,
 * serving TCP and UDP on ports 80 and 81 (container ports named
 * serve-<port>-<proto>), plus a representative set of the upstream cases
 * and an independent reference model of Kubernetes semantics that computes
 * each case's truth table. The reference evaluates one (client, server,
 * port, protocol) at a time straight from the policy objects; it shares no
 * code with lib/policy/network-policy.ts.
 */
import type {
  V1LabelSelector,
  V1Namespace,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1NetworkPolicySpec,
  V1Pod,
} from '@kubernetes/client-node';

export const Namespaces = ['x', 'y', 'z'] as const;
export const PodNames = ['a', 'b', 'c'] as const;
export const Ports = [80, 81] as const;
export const Protocols = ['TCP', 'UDP'] as const;
export type Proto = (typeof Protocols)[number];

export interface ModelPod {
  namespace: string;
  name: string;
  ip: string;
}

/** Pod IPs: <prefix>.<namespace index + 1>.<pod index + 1>, e.g. 10.131.1.1 for x/a. */
export function modelPods(prefix: string): ModelPod[] {
  return Namespaces.flatMap((ns, i) =>
    PodNames.map((name, j) => ({ namespace: ns, name, ip: `${prefix}.${i + 1}.${j + 1}` })),
  );
}

export const namedPortName = (port: number, proto: Proto): string =>
  `serve-${port}-${proto.toLowerCase()}`;

export function k8sPod(p: ModelPod): V1Pod {
  return {
    metadata: { namespace: p.namespace, name: p.name, labels: { pod: p.name } },
    spec: {
      containers: [
        {
          name: 'cont',
          ports: Ports.flatMap((port) =>
            Protocols.map((protocol) => ({
              name: namedPortName(port, protocol),
              containerPort: port,
              protocol,
            })),
          ),
        },
      ],
    },
    status: { podIP: p.ip, podIPs: [{ ip: p.ip }] },
  };
}

export function k8sNamespace(ns: string): V1Namespace {
  return { metadata: { name: ns, labels: { ns, 'kubernetes.io/metadata.name': ns } } };
}

// ---- reference model --------------------------------------------------------

function selects(sel: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return true;
  const ok = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    ok &&
    (sel.matchExpressions ?? []).every((e) => {
      const v = labels[e.key];
      if (e.operator === 'In') return v !== undefined && (e.values ?? []).includes(v);
      if (e.operator === 'NotIn') return v === undefined || !(e.values ?? []).includes(v);
      if (e.operator === 'Exists') return v !== undefined;
      if (e.operator === 'DoesNotExist') return v === undefined;
      return false;
    })
  );
}

function ipInCidr(ip: string, cidr: string): boolean {
  const [net, len = '32'] = cidr.split('/');
  const toNum = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const bits = Number(len);
  const div = 2 ** (32 - bits);
  return Math.floor(toNum(ip) / div) === Math.floor(toNum(net ?? '') / div);
}

function peerMatches(peer: V1NetworkPolicyPeer, policyNs: string, other: ModelPod): boolean {
  if (peer.ipBlock)
    return (
      ipInCidr(other.ip, peer.ipBlock.cidr) &&
      !(peer.ipBlock.except ?? []).some((e) => ipInCidr(other.ip, e))
    );
  const nsLabels = { ns: other.namespace, 'kubernetes.io/metadata.name': other.namespace };
  const nsOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, nsLabels)
    : other.namespace === policyNs;
  return nsOk && (peer.podSelector ? selects(peer.podSelector, { pod: other.name }) : true);
}

/** Named ports resolve on the server: the selected pod for ingress, the peer for egress. */
function portMatches(
  ports: V1NetworkPolicyPort[] | undefined,
  port: number,
  proto: Proto,
): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== proto) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') return p.port === namedPortName(port, proto);
    return port >= p.port && port <= (p.endPort ?? p.port);
  });
}

function types(p: V1NetworkPolicy): string[] {
  return (
    p.spec?.policyTypes ?? ((p.spec?.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'])
  );
}

export function referenceAllowed(
  policies: V1NetworkPolicy[],
  client: ModelPod,
  server: ModelPod,
  port: number,
  proto: Proto,
): boolean {
  const applies = (p: V1NetworkPolicy, pod: ModelPod, type: string): boolean =>
    p.metadata?.namespace === pod.namespace &&
    types(p).includes(type) &&
    selects(p.spec?.podSelector, { pod: pod.name });
  const ingressPolicies = policies.filter((p) => applies(p, server, 'Ingress'));
  const ingressOk =
    ingressPolicies.length === 0 ||
    ingressPolicies.some((p) =>
      (p.spec?.ingress ?? []).some(
        (r) =>
          ((r._from ?? []).length === 0 ||
            (r._from ?? []).some((peer) => peerMatches(peer, server.namespace, client))) &&
          portMatches(r.ports, port, proto),
      ),
    );
  const egressPolicies = policies.filter((p) => applies(p, client, 'Egress'));
  const egressOk =
    egressPolicies.length === 0 ||
    egressPolicies.some((p) =>
      (p.spec?.egress ?? []).some(
        (r) =>
          ((r.to ?? []).length === 0 ||
            (r.to ?? []).some((peer) => peerMatches(peer, client.namespace, server))) &&
          portMatches(r.ports, port, proto),
      ),
    );
  return ingressOk && egressOk;
}

// ---- the cases ----------------------------------------------------------------

const np = (ns: string, name: string, spec: V1NetworkPolicySpec): V1NetworkPolicy => ({
  metadata: { namespace: ns, name },
  spec,
});
const podSel = (pod: string): V1LabelSelector => ({ matchLabels: { pod } });
const nsSel = (ns: string): V1LabelSelector => ({
  matchLabels: { 'kubernetes.io/metadata.name': ns },
});

export interface NetpolCase {
  name: string;
  policies: (prefix: string) => V1NetworkPolicy[];
}

/** Named after the upstream `It(...)` they reproduce. */
export const NetpolCases: NetpolCase[] = [
  { name: 'no policies: everything is allowed', policies: () => [] },
  {
    name: "should support a 'default-deny-ingress' policy",
    policies: () => [np('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })],
  },
  {
    name: "should support a 'default-deny-all' policy",
    policies: () => [np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
  },
  {
    name: 'should enforce policy to allow traffic from pods within server namespace based on PodSelector',
    policies: () => [
      np('x', 'x-a-allows-x-b', {
        podSelector: podSel('a'),
        ingress: [{ _from: [{ podSelector: podSel('b') }] }],
      }),
    ],
  },
  {
    name: 'should enforce policy to allow ingress traffic for a target',
    policies: () => [
      np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] }),
      np('x', 'allow-all-to-a', {
        podSelector: podSel('a'),
        ingress: [{ _from: [{ podSelector: {}, namespaceSelector: {} }] }],
      }),
    ],
  },
  {
    name: 'should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector',
    policies: () => [
      np('x', 'allow-client-a-via-ns-selector', {
        podSelector: podSel('a'),
        ingress: [{ _from: [{ namespaceSelector: nsSel('y') }] }],
      }),
    ],
  },
  {
    name: 'should enforce policy based on NamespaceSelector with MatchExpressions',
    policies: () => [
      np('x', 'allow-ns-y-match-selector', {
        podSelector: podSel('a'),
        ingress: [
          {
            _from: [
              {
                namespaceSelector: {
                  matchExpressions: [{ key: 'ns', operator: 'In', values: ['y'] }],
                },
              },
            ],
          },
        ],
      }),
    ],
  },
  {
    name: 'should enforce policy based on PodSelector or NamespaceSelector',
    policies: () => [
      np('x', 'allow-ns-y-or-pod-b', {
        podSelector: podSel('a'),
        ingress: [
          {
            _from: [
              {
                namespaceSelector: {
                  matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }],
                },
              },
              { podSelector: podSel('b') },
            ],
          },
        ],
      }),
    ],
  },
  {
    name: 'should enforce policy based on PodSelector and NamespaceSelector',
    policies: () => [
      np('x', 'allow-ns-y-podselector-b', {
        podSelector: podSel('a'),
        ingress: [
          {
            _from: [
              {
                namespaceSelector: {
                  matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }],
                },
                podSelector: podSel('b'),
              },
            ],
          },
        ],
      }),
    ],
  },
  {
    name: 'should enforce policy based on Ports',
    policies: () => [
      np('x', 'allow-ingress-on-port-81', {
        podSelector: podSel('a'),
        ingress: [
          { _from: [{ namespaceSelector: nsSel('y') }], ports: [{ port: 81, protocol: 'TCP' }] },
        ],
      }),
    ],
  },
  {
    name: 'should enforce multiple, stacked policies with overlapping podSelectors',
    policies: () => [
      np('x', 'allow-on-port-80', {
        podSelector: podSel('a'),
        ingress: [{ _from: [{ namespaceSelector: nsSel('y') }], ports: [{ port: 80 }] }],
      }),
      np('x', 'allow-on-port-81', {
        podSelector: podSel('a'),
        ingress: [{ _from: [{ namespaceSelector: nsSel('z') }], ports: [{ port: 81 }] }],
      }),
    ],
  },
  {
    name: 'should enforce policy to allow ingress traffic for a target with a port range (endPort)',
    policies: () => [
      np('x', 'allow-port-range', {
        podSelector: podSel('b'),
        ingress: [
          {
            _from: [{ namespaceSelector: {} }],
            ports: [
              { port: 79, endPort: 80, protocol: 'TCP' },
              { port: 81, endPort: 90, protocol: 'UDP' },
            ],
          },
        ],
      }),
    ],
  },
  {
    name: 'should allow ingress access on one named port',
    policies: () => [
      np('x', 'allow-all-serve-81-tcp', {
        podSelector: {},
        ingress: [{ ports: [{ port: 'serve-81-tcp' }] }],
      }),
    ],
  },
  {
    name: 'should allow ingress access from namespace on one named port',
    policies: () => [
      np('x', 'allow-ns-y-serve-80-udp', {
        podSelector: {},
        ingress: [
          {
            _from: [{ namespaceSelector: nsSel('y') }],
            ports: [{ port: 'serve-80-udp', protocol: 'UDP' }],
          },
        ],
      }),
    ],
  },
  {
    name: 'should allow egress access on one named port',
    policies: () => [
      np('x', 'allow-egress-serve-80-tcp', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ ports: [{ port: 'serve-80-tcp' }] }],
      }),
    ],
  },
  {
    name: 'should deny egress from all pods in a namespace',
    policies: () => [np('x', 'deny-egress-ns-x', { podSelector: {}, policyTypes: ['Egress'] })],
  },
  {
    name: 'should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector',
    policies: () => [
      np('x', 'allow-to-ns-y-pod-a', {
        podSelector: podSel('a'),
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: nsSel('y'), podSelector: podSel('a') }] }],
      }),
    ],
  },
  {
    name: 'should work with Ingress, Egress specified together',
    policies: () => [
      np('x', 'allow-client-a-via-ns-selector', {
        podSelector: podSel('a'),
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ _from: [{ namespaceSelector: nsSel('y') }] }],
        egress: [{ ports: [{ port: 80 }] }],
      }),
    ],
  },
  {
    name: 'should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)',
    policies: () => [
      np('x', 'deny-egress-from-a', { podSelector: podSel('a'), policyTypes: ['Egress'] }),
      np('y', 'allow-all-ingress', { podSelector: {}, ingress: [{}] }),
    ],
  },
  {
    name: 'should allow egress access to server in CIDR block',
    policies: (prefix) => [
      np('x', 'allow-client-a-via-cidr', {
        podSelector: podSel('a'),
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: `${prefix}.2.2/32` } }] }],
      }),
    ],
  },
  {
    name: 'should enforce except clause while egress access to server in CIDR block',
    policies: (prefix) => [
      np('x', 'deny-client-a-via-except-cidr', {
        podSelector: podSel('a'),
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              {
                ipBlock: {
                  cidr: `${prefix}.0.0/16`,
                  except: [`${prefix}.2.0/24`, `${prefix}.3.3/32`],
                },
              },
            ],
          },
        ],
      }),
    ],
  },
  {
    name: 'should enforce ingress policy allowing any port traffic to a server on a specific protocol',
    policies: () => [
      np('x', 'allow-ingress-by-proto', {
        podSelector: podSel('a'),
        ingress: [{ ports: [{ protocol: 'UDP' }] }],
      }),
    ],
  },
  {
    name: 'should enforce multiple ingress policies with ingress allow-all policy taking precedence',
    policies: () => [
      np('x', 'allow-only-81', { podSelector: {}, ingress: [{ ports: [{ port: 81 }] }] }),
      np('x', 'allow-all', { podSelector: {}, ingress: [{}] }),
    ],
  },
  {
    name: 'should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector',
    policies: () => [
      np('x', 'deny-egress-b', { podSelector: podSel('b'), policyTypes: ['Egress'] }),
      np('x', 'allow-ingress-a-from-y', {
        podSelector: podSel('a'),
        ingress: [
          {
            _from: [{ namespaceSelector: nsSel('y') }],
            ports: [{ port: 80, protocol: 'UDP' }, { port: 81 }],
          },
        ],
      }),
    ],
  },
  {
    name: 'should stop enforcing policies after they are deleted',
    policies: () => [],
  },
];
