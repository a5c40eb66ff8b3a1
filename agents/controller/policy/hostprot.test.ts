/**
 * NetworkPolicy → hostprotPol for the shapes of the Kubernetes
 * documentation (networkpolicies concept page and its recipes).
 */
import test from 'ava';
import type { V1Namespace, V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import type { ControllerConfig } from '../../../lib/config/components.ts';
import { subtractCidrs } from '../../../lib/net/prefix-set.ts';
import { moAttrs, moChildren, moClass, type Mo } from '../apic/mo.ts';
import { eligiblePod as eligible, hostprotPolicy } from './hostprot.ts';

const config = { aci: { tenant: 'kube', objectPrefix: 'aci-containers-kube' } } as ControllerConfig;

function pod(
  namespace: string,
  name: string,
  ip: string,
  labels: Record<string, string>,
  ports: { name: string; containerPort: number }[] = [],
): V1Pod {
  return {
    metadata: { namespace, name, labels },
    spec: { containers: [{ name: 'c', ports }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}
const ns = (name: string, labels: Record<string, string> = {}): V1Namespace => ({
  metadata: { name, labels },
});

const pods = [
  pod('default', 'db', '10.2.0.10', { role: 'db' }, [{ name: 'redis', containerPort: 6379 }]),
  pod('default', 'frontend', '10.2.0.11', { role: 'frontend' }),
  pod('default', 'web', '10.2.0.12', { app: 'web' }, [{ name: 'http', containerPort: 8080 }]),
  pod('other', 'client', '10.2.1.5', { role: 'client' }),
  pod('other', 'web2', 'fd00::5', { app: 'web' }, [{ name: 'http', containerPort: 9090 }]),
  pod('myproject', 'x', '10.2.2.7', {}),
];
const namespaces = [
  ns('default'),
  ns('other', { team: 'b' }),
  ns('myproject', { project: 'myproject' }),
];
const ctx = { pods, namespaces };

function policy(
  name: string,
  spec: Record<string, unknown>,
  namespace = 'default',
): V1NetworkPolicy {
  return { metadata: { name, namespace }, spec: spec as V1NetworkPolicy['spec'] };
}

/** rule name → { attrs, remote IPs } per subject, for compact assertions. */
function summary(mo: Mo): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const subj of moChildren(mo)) {
    const s = moAttrs(subj).name ?? '';
    out[s] = {};
    for (const rule of moChildren(subj)) {
      const a = moAttrs(rule);
      const remotes = moChildren(rule)
        .map((r) => moAttrs(r).addr)
        .join(' ');
      out[s]![a.name ?? ''] = [
        a.protocol ?? '*',
        a.fromPort ? `${a.fromPort}-${a.toPort}` : '*',
        remotes || 'any',
      ].join(' ');
    }
  }
  return out;
}

test('default deny ingress: an ingress subject without rules', (t) => {
  const mo = hostprotPolicy(
    config,
    policy('deny', { podSelector: {}, policyTypes: ['Ingress'] }),
    ctx,
  );
  t.is(moClass(mo), 'hostprotPol');
  t.is(moAttrs(mo).dn, 'uni/tn-kube/pol-aci-containers-kube_np_default_deny');
  t.deepEqual(summary(mo), { 'networkpolicy-ingress': {} });
});

test('allow all ingress: one rule per family, no remote IPs', (t) => {
  const mo = hostprotPolicy(config, policy('allow', { podSelector: {}, ingress: [{}] }), ctx);
  t.deepEqual(summary(mo), {
    'networkpolicy-ingress': { '0_0-ipv4': '* * any', '0_0-ipv6': '* * any' },
  });
});

test('default deny all: both subjects empty', (t) => {
  const mo = hostprotPolicy(
    config,
    policy('deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    ctx,
  );
  t.deepEqual(summary(mo), { 'networkpolicy-ingress': {}, 'networkpolicy-egress': {} });
});

test('the documentation example: ipBlock with except, namespaceSelector, podSelector, and egress to a block', (t) => {
  const mo = hostprotPolicy(
    config,
    policy('test-network-policy', {
      podSelector: { matchLabels: { role: 'db' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            { ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } },
            { namespaceSelector: { matchLabels: { project: 'myproject' } } },
            { podSelector: { matchLabels: { role: 'frontend' } } },
          ],
          ports: [{ protocol: 'TCP', port: 6379 }],
        },
      ],
      egress: [
        { to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] },
      ],
    }),
    ctx,
  );
  const block = subtractCidrs('172.17.0.0/16', ['172.17.1.0/24']);
  t.deepEqual(summary(mo), {
    'networkpolicy-ingress': {
      '0_0-ipv4': `tcp 6379-6379 ${[...block, '10.2.0.11/32', '10.2.2.7/32'].sort().join(' ')}`,
    },
    'networkpolicy-egress': { '0_0-ipv4': 'tcp 5978-5978 10.0.0.0/24' },
  });
});

test('namespaceSelector and podSelector in one peer is an AND; an empty namespaceSelector means all namespaces', (t) => {
  const and = hostprotPolicy(
    config,
    policy('and', {
      podSelector: {},
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { team: 'b' } },
              podSelector: { matchLabels: { role: 'client' } },
            },
          ],
        },
      ],
    }),
    ctx,
  );
  t.deepEqual(summary(and)['networkpolicy-ingress'], { '0_0-ipv4': '* * 10.2.1.5/32' });
  const all = hostprotPolicy(
    config,
    policy('all', {
      podSelector: {},
      ingress: [
        { from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'web' } } }] },
      ],
    }),
    ctx,
  );
  t.deepEqual(summary(all)['networkpolicy-ingress'], {
    '0_0-ipv4': '* * 10.2.0.12/32',
    '0_0-ipv6': '* * fd00::5/128',
  });
});

test('peers that match no pod leave the rule out (an empty remote list would allow everyone)', (t) => {
  const mo = hostprotPolicy(
    config,
    policy('none', {
      podSelector: {},
      ingress: [{ from: [{ podSelector: { matchLabels: { role: 'nobody' } } }] }],
    }),
    ctx,
  );
  t.deepEqual(summary(mo), { 'networkpolicy-ingress': {} });
});

test('port ranges with endPort, protocols, and a port-less entry meaning every port of the protocol', (t) => {
  const mo = hostprotPolicy(
    config,
    policy('ranges', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ ipBlock: { cidr: '10.9.0.0/16' } }],
          ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }, { protocol: 'UDP' }],
        },
      ],
    }),
    ctx,
  );
  t.deepEqual(summary(mo), {
    'networkpolicy-egress': {
      '0_0-ipv4': 'tcp 32000-32768 10.9.0.0/16',
      '0_1-ipv4': 'udp * 10.9.0.0/16',
    },
  });
});

test('named ports: ingress resolves on the selected pods, egress per destination pod', (t) => {
  const ingress = hostprotPolicy(
    config,
    policy('named-in', {
      podSelector: { matchLabels: { role: 'db' } },
      ingress: [{ ports: [{ port: 'redis' }] }],
    }),
    ctx,
  );
  t.deepEqual(summary(ingress)['networkpolicy-ingress'], {
    '0_0_6379-ipv4': 'tcp 6379-6379 any',
    '0_0_6379-ipv6': 'tcp 6379-6379 any',
  });
  const egress = hostprotPolicy(
    config,
    policy('named-out', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'web' } } }],
          ports: [{ port: 'http' }],
        },
      ],
    }),
    ctx,
  );
  t.deepEqual(summary(egress)['networkpolicy-egress'], {
    '0_0_8080-ipv4': 'tcp 8080-8080 10.2.0.12/32',
    '0_0_9090-ipv6': 'tcp 9090-9090 fd00::5/128',
  });
});

test('host-network and finished pods are not peers', (t) => {
  const extra = [
    ...pods,
    {
      ...pod('default', 'hostnet', '10.1.0.5', { role: 'frontend' }),
      spec: { hostNetwork: true, containers: [] },
    },
    {
      ...pod('default', 'done', '10.2.0.99', { role: 'frontend' }),
      status: { phase: 'Succeeded', podIP: '10.2.0.99' },
    },
  ];
  const mo = hostprotPolicy(
    config,
    policy('p', {
      podSelector: {},
      ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }] }],
    }),
    { pods: extra.filter(eligible), namespaces },
  );
  t.deepEqual(summary(mo)['networkpolicy-ingress'], { '0_0-ipv4': '* * 10.2.0.11/32' });
});
