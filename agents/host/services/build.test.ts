import test from 'ava';
import type { ServiceFile } from '../../opflex/files.ts';
import type { EndpointSliceObject, ServiceGraphObject, ServiceObject } from '../kube/objects.ts';
import { buildServiceFiles, ServiceNameLabel } from './build.ts';

const ns = 'shop';

function service(
  name: string,
  spec: ServiceObject['spec'],
  status?: ServiceObject['status'],
): ServiceObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, uid: `uid-${name}` },
    spec,
    ...(status ? { status } : {}),
  };
}

interface EndpointInput {
  ip: string;
  ready?: boolean;
}

function slice(
  service: string,
  ports: { name?: string; port: number }[],
  endpoints: EndpointInput[],
  suffix = 'a',
): EndpointSliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${service}-${suffix}`,
      namespace: ns,
      labels: { [ServiceNameLabel]: service },
    },
    addressType: 'IPv4',
    ports: ports.map((p) => ({ ...p, protocol: 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
    })),
  };
}

function graph(name: string, externalIPs: string[]): ServiceGraphObject {
  return {
    apiVersion: 'aci.cni.dev/v1alpha1',
    kind: 'ServiceGraph',
    metadata: { name, namespace: ns },
    spec: { externalIPs, ports: [{ name: 'http', protocol: 'TCP', port: 80 }], nodes: [] },
  };
}

const only = (files: ServiceFile[]): ServiceFile => {
  if (files.length !== 1) throw new Error(`expected one file, got ${files.length}`);
  return files[0] as ServiceFile;
};

test('a ClusterIP service lists its ready backends with the numeric target port', (t) => {
  const built = buildServiceFiles({
    services: [
      service('web', {
        type: 'ClusterIP',
        clusterIP: '10.96.0.10',
        clusterIPs: ['10.96.0.10'],
        ports: [{ name: 'http', port: 80, targetPort: 8080 }],
      }),
    ],
    endpointSlices: [
      slice(
        'web',
        [{ name: 'http', port: 8080 }],
        [{ ip: '10.2.0.3' }, { ip: '10.2.0.2', ready: true }],
      ),
    ],
    serviceGraphs: [],
  });
  t.deepEqual(only(built.files), {
    uuid: 'uid-web',
    namespace: ns,
    name: 'web',
    frontends: [{ ip: '10.96.0.10', kind: 'ClusterIP' }],
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
    backends: ['10.2.0.2', '10.2.0.3'],
    sessionAffinity: 'None',
    affinityTimeoutSeconds: 10800,
  });
});

const cases: {
  title: string;
  services: ServiceObject[];
  slices: EndpointSliceObject[];
  graphs: ServiceGraphObject[];
  expect: (f: ServiceFile[]) => unknown;
  want: unknown;
}[] = [
  {
    title: 'not-ready endpoints are excluded, unset ready counts as ready',
    services: [
      service('web', { clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080 }] }),
    ],
    slices: [
      slice(
        'web',
        [{ port: 8080 }],
        [{ ip: '10.2.0.2', ready: false }, { ip: '10.2.0.4' }, { ip: '10.2.0.5', ready: true }],
      ),
    ],
    graphs: [],
    expect: (f) => only(f).backends,
    want: ['10.2.0.4', '10.2.0.5'],
  },
  {
    title: 'a named target port resolves per backend from the EndpointSlices',
    services: [
      service('api', {
        clusterIP: '10.96.0.11',
        ports: [{ name: 'web', port: 80, targetPort: 'http' }],
      }),
    ],
    slices: [
      slice('api', [{ name: 'web', port: 8080 }], [{ ip: '10.2.0.2' }, { ip: '10.2.0.3' }], 'a'),
      slice('api', [{ name: 'web', port: 9090 }], [{ ip: '10.2.1.7' }], 'b'),
    ],
    graphs: [],
    expect: (f) => ({ ports: only(f).ports, backends: only(f).backends }),
    want: {
      ports: [{ name: 'web', protocol: 'TCP', port: 80, targetPort: 8080 }],
      backends: ['10.2.0.2', '10.2.0.3', { ip: '10.2.1.7', targetPorts: { web: 9090 } }],
    },
  },
  {
    title: 'a named target port without ready backends falls back to the service port',
    services: [
      service('api', {
        clusterIP: '10.96.0.11',
        ports: [{ name: 'web', port: 80, targetPort: 'http' }],
      }),
    ],
    slices: [],
    graphs: [],
    expect: (f) => ({ ports: only(f).ports, backends: only(f).backends }),
    want: { ports: [{ name: 'web', protocol: 'TCP', port: 80, targetPort: 80 }], backends: [] },
  },
  {
    title: 'ClientIP session affinity carries its timeout',
    services: [
      service('sticky', {
        clusterIP: '10.96.0.12',
        ports: [{ port: 53, protocol: 'UDP', targetPort: 5353 }],
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
      }),
    ],
    slices: [],
    graphs: [],
    expect: (f) => ({
      a: only(f).sessionAffinity,
      t: only(f).affinityTimeoutSeconds,
      p: only(f).ports[0]?.protocol,
    }),
    want: { a: 'ClientIP', t: 600, p: 'UDP' },
  },
  {
    title: 'ClientIP affinity without config uses the Kubernetes default of 3 hours',
    services: [
      service('sticky', {
        clusterIP: '10.96.0.12',
        ports: [{ port: 80 }],
        sessionAffinity: 'ClientIP',
      }),
    ],
    slices: [],
    graphs: [],
    expect: (f) => ({
      a: only(f).sessionAffinity,
      t: only(f).affinityTimeoutSeconds,
      target: only(f).ports[0]?.targetPort,
    }),
    want: { a: 'ClientIP', t: 10800, target: 80 },
  },
  {
    title:
      'a LoadBalancer service gets ServiceGraph and ingress IPs as external frontends and its node ports',
    services: [
      service(
        'shop',
        {
          type: 'LoadBalancer',
          clusterIP: '10.96.0.13',
          ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }],
        },
        { loadBalancer: { ingress: [{ ip: '203.0.113.5' }, { ip: '203.0.113.9' }] } },
      ),
    ],
    slices: [],
    graphs: [graph('shop', ['203.0.113.5'])],
    expect: (f) => ({ frontends: only(f).frontends, ports: only(f).ports }),
    want: {
      frontends: [
        { ip: '10.96.0.13', kind: 'ClusterIP' },
        { ip: '203.0.113.5', kind: 'External' },
        { ip: '203.0.113.9', kind: 'External' },
      ],
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
    },
  },
  {
    title: 'a ClusterIP service does not expose a stray nodePort',
    services: [
      service('web', {
        type: 'ClusterIP',
        clusterIP: '10.96.0.10',
        ports: [{ port: 80, nodePort: 30001 }],
      }),
    ],
    slices: [],
    graphs: [],
    expect: (f) => only(f).ports[0]?.nodePort,
    want: undefined,
  },
  {
    title: 'headless and ExternalName services produce no file',
    services: [
      service('headless', { clusterIP: 'None', ports: [{ port: 80 }] }),
      service('alias', { type: 'ExternalName', externalName: 'example.com' }),
    ],
    slices: [slice('headless', [{ port: 80 }], [{ ip: '10.2.0.2' }])],
    graphs: [],
    expect: (f) => f.length,
    want: 0,
  },
  {
    title: 'slices of another service or namespace are not mixed in',
    services: [service('web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] })],
    slices: [
      slice('other', [{ port: 80 }], [{ ip: '10.2.0.9' }]),
      {
        ...slice('web', [{ port: 80 }], [{ ip: '10.2.0.8' }]),
        metadata: { name: 'x', namespace: 'elsewhere', labels: { [ServiceNameLabel]: 'web' } },
      },
    ],
    graphs: [],
    expect: (f) => only(f).backends,
    want: [],
  },
];

for (const c of cases) {
  test(c.title, (t) => {
    const built = buildServiceFiles({
      services: c.services,
      endpointSlices: c.slices,
      serviceGraphs: c.graphs,
    });
    t.deepEqual(built.rejected, []);
    t.deepEqual(c.expect(built.files), c.want);
  });
}

test('an invalid service is rejected on its own, the others still build', (t) => {
  const built = buildServiceFiles({
    services: [
      service('bad', { clusterIP: '10.96.0.20', ports: [{ port: 80, targetPort: 70000 }] }),
      service('good', { clusterIP: '10.96.0.21', ports: [{ port: 80 }] }),
    ],
    endpointSlices: [],
    serviceGraphs: [],
  });
  t.deepEqual(
    built.files.map((f) => f.name),
    ['good'],
  );
  t.deepEqual(
    built.rejected.map((r) => r.key),
    [`${ns}/bad`],
  );
});
