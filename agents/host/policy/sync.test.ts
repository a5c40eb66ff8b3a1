import test from 'ava';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecurityGroupFile } from '../../opflex/files.ts';
import { buildEndpointFile, EndpointFileStore, endpointUuid } from '../endpoints/index.ts';
import type { EndpointPolicy } from '../endpoints/index.ts';
import type { Allocation } from '../ipam/index.ts';
import type { NetworkPolicyObject, PodObject } from '../kube/objects.ts';
import { nodeFileOps, type FileOps } from './dirsync.ts';
import {
  EndpointsDir,
  SecurityGroupsDir,
  syncEndpointFiles,
  syncSecurityGroupFiles,
} from './sync.ts';
import { computePolicyView } from './view.ts';

/** Real files, counted writes and removals. */
function countingOps(): FileOps & { writes: string[]; removes: string[] } {
  const writes: string[] = [];
  const removes: string[] = [];
  return {
    writes,
    removes,
    list: nodeFileOps.list,
    read: nodeFileOps.read,
    async write(path, content) {
      writes.push(path);
      await nodeFileOps.write(path, content);
    },
    async remove(path) {
      removes.push(path);
      await nodeFileOps.remove(path);
    },
  };
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'host-policy-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const group = (name: string, port: number): SecurityGroupFile => ({
  name,
  isolates: ['ingress'],
  rules: [{ direction: 'ingress', protocol: 'TCP', ports: [{ from: port, to: port }] }],
});

test('security-group sync writes once, then nothing for the same input', async (t) => {
  const state = await tempDir(t);
  const groups = new Map([
    ['np.a.web', group('np.a.web', 80)],
    ['np.a.db', group('np.a.db', 5432)],
  ]);
  const first = countingOps();
  t.deepEqual((await syncSecurityGroupFiles(state, groups, first)).written, [
    'np.a.db',
    'np.a.web',
  ]);
  const second = countingOps();
  const report = await syncSecurityGroupFiles(state, new Map(groups), second);
  t.deepEqual(report, { written: [], removed: [] });
  t.deepEqual(second.writes, []);
  t.deepEqual(second.removes, []);
});

test('security-group sync rewrites a changed group and removes unused ones, leaving other files alone', async (t) => {
  const state = await tempDir(t);
  await syncSecurityGroupFiles(
    state,
    new Map([
      ['np.a.web', group('np.a.web', 80)],
      ['np.a.db', group('np.a.db', 5432)],
    ]),
  );
  await writeFile(join(state, SecurityGroupsDir, 'README'), 'not ours');
  const ops = countingOps();
  const report = await syncSecurityGroupFiles(
    state,
    new Map([['np.a.web', group('np.a.web', 8080)]]),
    ops,
  );
  t.deepEqual(report, { written: ['np.a.web'], removed: ['np.a.db'] });
  t.deepEqual((await readdir(join(state, SecurityGroupsDir))).sort(), ['README', 'np.a.web.sg']);
});

const defaultPolicy: EndpointPolicy = {
  endpointGroup: {
    tenant: 'kube',
    appProfile: 'aci-containers-kube',
    name: 'aci-containers-default',
  },
  securityGroups: [],
  bridgeDomain: 'aci-containers-kube-pod-bd',
};

function allocation(name: string, ip: string): Allocation {
  return {
    containerId: `c-${name}`,
    ifName: 'eth0',
    ips: [ip],
    netns: `/run/netns/${name}`,
    pod: { namespace: 'a', name, uid: `u-${name}` },
  };
}

async function endpointFileFor(state: string, a: Allocation): Promise<string> {
  const uuid = endpointUuid(a.pod?.uid, a.containerId, a.ifName);
  await new EndpointFileStore(join(state, EndpointsDir)).write(
    buildEndpointFile({
      uuid,
      namespace: a.pod?.namespace ?? '',
      podName: a.pod?.name ?? '',
      containerId: a.containerId,
      hostIfName: `aci${a.containerId}`,
      mac: '02:00:00:00:00:01',
      ips: a.ips,
      gateways: ['10.2.0.1'],
      policy: defaultPolicy,
    }),
  );
  return uuid;
}

test('endpoint sync is idempotent and rewrites only files whose policy changed', async (t) => {
  const state = await tempDir(t);
  const web = allocation('web', '10.2.0.2');
  const db = allocation('db', '10.2.0.3');
  const webUuid = await endpointFileFor(state, web);
  await endpointFileFor(state, db);
  const input = {
    stateDir: state,
    allocations: () => [web, db],
    podLabels: () => ({}),
    policyOf: () => defaultPolicy,
  };
  const same = countingOps();
  t.deepEqual(await syncEndpointFiles(input, same), { written: [], removed: [] });
  t.deepEqual(same.writes, []);

  const isolated = { ...defaultPolicy, securityGroups: ['np.a.web'] };
  const changed = countingOps();
  const report = await syncEndpointFiles(
    { ...input, policyOf: (pod) => (pod.name === 'web' ? isolated : defaultPolicy) },
    changed,
  );
  t.deepEqual(report, { written: [webUuid], removed: [] });
  const file = await new EndpointFileStore(join(state, EndpointsDir)).read(webUuid);
  t.deepEqual(file?.securityGroups, ['np.a.web']);
  t.deepEqual(file?.ips, ['10.2.0.2']);

  const again = countingOps();
  t.deepEqual(
    await syncEndpointFiles(
      { ...input, policyOf: (pod) => (pod.name === 'web' ? isolated : defaultPolicy) },
      again,
    ),
    {
      written: [],
      removed: [],
    },
  );
});

test('endpoint sync removes files no allocation owns and never creates files', async (t) => {
  const state = await tempDir(t);
  const web = allocation('web', '10.2.0.2');
  const gone = allocation('gone', '10.2.0.9');
  const goneUuid = await endpointFileFor(state, gone);
  const report = await syncEndpointFiles({
    stateDir: state,
    allocations: () => [web],
    podLabels: () => ({}),
    policyOf: () => defaultPolicy,
  });
  t.deepEqual(report, { written: [], removed: [goneUuid] });
  t.deepEqual(await readdir(join(state, EndpointsDir)), []);
});

const pod = (
  name: string,
  node: string,
  labels: Record<string, string>,
  ip?: string,
): PodObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'a', labels },
  spec: { nodeName: node, containers: [{ name: 'c' }] },
  ...(ip ? { status: { podIP: ip, podIPs: [{ ip }] } } : {}),
});

test('the policy view maps EPGs, and writes groups only for this node pods', (t) => {
  const policy: NetworkPolicyObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'web', namespace: 'a' },
    spec: {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ _from: [{ podSelector: { matchLabels: { app: 'client' } } }] }],
    },
  };
  const other: NetworkPolicyObject = {
    ...policy,
    metadata: { name: 'remote-only', namespace: 'a' },
    spec: { podSelector: { matchLabels: { app: 'client' } } },
  };
  const view = computePolicyView({
    nodeName: 'n1',
    // The local pod has no status IP yet: its allocation supplies it.
    pods: [pod('web', 'n1', { app: 'web' }), pod('client', 'n2', { app: 'client' }, '10.2.1.5')],
    namespaces: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } }],
    networkPolicies: [policy, other],
    mappings: [
      {
        apiVersion: 'aci.cni.dev/v1alpha1',
        kind: 'EndpointGroupMapping',
        metadata: { name: 'web', namespace: 'a' },
        spec: {
          podSelector: { matchLabels: { app: 'web' } },
          endpointGroup: { applicationProfile: 'shop', name: 'frontend' },
          priority: 0,
        },
      },
    ],
    allocations: [allocation('web', '10.2.0.2')],
    defaults: {
      tenant: 'kube',
      defaultEndpointGroup: {
        tenant: 'kube',
        applicationProfile: 'aci-containers-kube',
        name: 'aci-containers-default',
      },
      systemEndpointGroup: {
        tenant: 'kube',
        applicationProfile: 'aci-containers-kube',
        name: 'aci-containers-system',
      },
      systemNamespaces: ['kube-system'],
    },
    bridgeDomain: 'bd',
  });
  t.deepEqual([...view.securityGroups.keys()], ['np.a.web']);
  t.deepEqual(view.securityGroups.get('np.a.web')?.rules[0]?.remotes, [
    { cidr: '10.2.1.5/32', except: [] },
  ]);
  const web = view.policyOf({ namespace: 'a', name: 'web', labels: { app: 'web' } });
  t.deepEqual(web, {
    endpointGroup: { tenant: 'kube', appProfile: 'shop', name: 'frontend' },
    securityGroups: ['np.a.web'],
    bridgeDomain: 'bd',
  });
  t.is(
    view.policyOf({ namespace: 'kube-system', name: 'dns', labels: {} }).endpointGroup.name,
    'aci-containers-system',
  );
});
