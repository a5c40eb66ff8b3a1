/**
 * CNI server logic against an in-memory data plane: validation, error codes,
 * rollback, idempotence, serialization, reconcile. No root needed.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { EndpointFileStore } from '../endpoints/index.ts';
import { IpamStore, reservedAddresses } from '../ipam/index.ts';
import { hostVethName } from '../netconf/names.ts';
import { FakeDataplane } from '../../../e2e/support/host/fakedataplane.ts';
import { CniServer } from './server.ts';
import { ErrorCode, ProtocolVersion } from './protocol.ts';
import type { CniRequest, CniResponse } from './protocol.ts';
import { CniResult } from './result.ts';
import { callServer } from '../../cni/client.ts';

const subnets = [{ cidr: '10.5.0.0/16', gateway: '10.5.0.1' }];
const dirs: string[] = [];
test.after.always(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function setup(chunks: string[] = ['10.5.0.0/28']) {
  const dir = await mkdtemp(join(tmpdir(), 'cniserver-'));
  dirs.push(dir);
  const open = () =>
    IpamStore.open({ path: join(dir, 'ipam.json'), reserved: reservedAddresses(subnets) });
  const ipam = await open();
  await ipam.setChunks(chunks);
  const dataplane = new FakeDataplane();
  const endpoints = new EndpointFileStore(join(dir, 'endpoints'));
  const make = (store: IpamStore) =>
    new CniServer({
      socketPath: join(dir, 'cni.sock'),
      ipam: store,
      endpoints,
      dataplane,
      subnets,
      logger: pino({ level: 'silent' }),
      endpointPolicy: (pod) => ({
        endpointGroup: { tenant: 't', appProfile: 'ap', name: pod.labels.tier ?? 'default' },
        securityGroups: ['sg1'],
        bridgeDomain: 'bd',
      }),
      podLabels: (_ns, name) => ({ tier: `tier-of-${name}` }),
    });
  return { dir, ipam, dataplane, endpoints, server: make(ipam), make, open };
}

function request(command: CniRequest['command'], over: Partial<CniRequest> = {}): CniRequest {
  return {
    protocol: ProtocolVersion,
    command,
    containerId: 'c1',
    netns: '/var/run/netns/p1',
    ifName: 'eth0',
    args: { K8S_POD_NAMESPACE: 'ns', K8S_POD_NAME: 'p1', K8S_POD_UID: 'u1' },
    config: { cniVersion: '1.0.0', name: 'net', type: 'aci-containers-cni' },
    ...over,
  };
}

const codeOf = (r: CniResponse): number | undefined => ('error' in r ? r.error.code : undefined);

test('ADD returns a spec-correct result and writes the endpoint file with the injected policy', async (t) => {
  const s = await setup();
  s.dataplane.netns.add('/var/run/netns/p1');
  const r = await s.server.handle(request('ADD'));
  if (!('result' in r)) return t.fail(JSON.stringify(r));
  const res = CniResult.parse(r.result);
  t.deepEqual(res.ips, [{ address: '10.5.0.2/16', gateway: '10.5.0.1', interface: 1 }]);
  t.deepEqual(res.routes, [{ dst: '0.0.0.0/0', gw: '10.5.0.1' }]);
  const ep = await s.endpoints.read('u1_c1_eth0');
  t.like(ep, {
    namespace: 'ns',
    podName: 'p1',
    ips: ['10.5.0.2'],
    gateways: ['10.5.0.1'],
    endpointGroup: { tenant: 't', appProfile: 'ap', name: 'tier-of-p1' },
    securityGroups: ['sg1'],
    bridgeDomain: 'bd',
  });
  t.deepEqual(s.dataplane.ports.get(hostVethName('c1', 'eth0')), {
    containerId: 'c1',
    endpointUuid: 'u1_c1_eth0',
    mac: ep?.mac,
  });
});

test('legacy 0.3.1 configs get the per-IP version field', async (t) => {
  const s = await setup();
  s.dataplane.netns.add('/var/run/netns/p1');
  const r = await s.server.handle(
    request('ADD', { config: { cniVersion: '0.3.1', name: 'n', type: 'x' } }),
  );
  t.like(r, { result: { cniVersion: '0.3.1', ips: [{ version: '4', address: '10.5.0.2/16' }] } });
});

test('validation comes first: bad version, env, config, netns', async (t) => {
  const s = await setup();
  t.is(
    codeOf(
      await s.server.handle(
        request('ADD', { config: { cniVersion: '9.9.9', name: 'n', type: 'x' } }),
      ),
    ),
    ErrorCode.IncompatibleVersion,
  );
  t.is(
    codeOf(await s.server.handle(request('ADD', { containerId: '' }))),
    ErrorCode.InvalidEnvironment,
  );
  t.is(
    codeOf(await s.server.handle(request('ADD', { ifName: 'much-too-long-ifname' }))),
    ErrorCode.InvalidEnvironment,
  );
  t.is(
    codeOf(await s.server.handle(request('ADD', { netns: 'relative/path' }))),
    ErrorCode.InvalidEnvironment,
  );
  t.is(
    codeOf(await s.server.handle(request('ADD', { netns: '/var/run/netns/absent' }))),
    ErrorCode.InvalidEnvironment,
  );
  t.is(
    codeOf(await s.server.handle({ ...request('ADD'), config: { name: 'n' } })),
    ErrorCode.InvalidNetworkConfig,
  );
  t.is(
    codeOf(await s.server.handle({ ...request('ADD'), command: 'FLY' })),
    ErrorCode.InvalidEnvironment,
  );
  t.is(codeOf(await s.server.handleText('{not json')), ErrorCode.DecodeFailure);
  t.is(
    codeOf(
      await s.server.handle(
        request('CHECK', { config: { cniVersion: '0.3.1', name: 'n', type: 'x' } }),
      ),
    ),
    ErrorCode.IncompatibleVersion,
  );
  t.is(
    codeOf(
      await s.server.handle(
        request('STATUS', { config: { cniVersion: '1.0.0', name: 'n', type: 'x' } }),
      ),
    ),
    ErrorCode.IncompatibleVersion,
  );
  t.is(s.ipam.list().length, 0);
});

test('errors carry the request cniVersion', async (t) => {
  const s = await setup();
  const r = await s.server.handle(
    request('ADD', { containerId: '', config: { cniVersion: '0.4.0', name: 'n', type: 'x' } }),
  );
  t.like(r, {
    error: {
      cniVersion: '0.4.0',
      code: ErrorCode.InvalidEnvironment,
      msg: 'CNI_CONTAINERID is required',
    },
  });
});

test('IPAM exhaustion is error 100 with the family named', async (t) => {
  const s = await setup(['10.5.0.2/32']);
  s.dataplane.netns.add('/var/run/netns/p1');
  t.truthy('result' in (await s.server.handle(request('ADD'))));
  const r = await s.server.handle(request('ADD', { containerId: 'c2' }));
  t.like(r, {
    error: {
      code: ErrorCode.IpamExhausted,
      details: "no free IPv4 address left in this node's chunks",
    },
  });
});

for (const [op, code] of [
  ['createInterface', ErrorCode.InterfaceSetupFailed],
  ['attachPort', ErrorCode.OvsFailure],
] as const) {
  test(`a failing ${op} rolls the ADD back`, async (t) => {
    const s = await setup();
    s.dataplane.netns.add('/var/run/netns/p1');
    s.dataplane.failNext.set(op, new Error('boom'));
    const r = await s.server.handle(request('ADD'));
    t.like(r, { error: { code, details: 'boom' } });
    t.is(s.ipam.list().length, 0);
    t.is(s.dataplane.interfaces.size, 0);
    t.is(s.dataplane.ports.size, 0);
    t.deepEqual(await s.endpoints.list(), []);
  });
}

test('a repeated ADD after a broken interface sets it up again with the same address', async (t) => {
  const s = await setup();
  s.dataplane.netns.add('/var/run/netns/p1');
  const first = await s.server.handle(request('ADD'));
  s.dataplane.interfaces.clear();
  const second = await s.server.handle(request('ADD'));
  t.deepEqual(second, first);
  t.is(s.dataplane.interfaces.size, 1);
});

test('work is serialized per container id', async (t) => {
  const s = await setup();
  s.dataplane.netns.add('/var/run/netns/p1');
  let inside = 0;
  let maxInside = 0;
  s.dataplane.onCreate = async () => {
    inside++;
    maxInside = Math.max(maxInside, inside);
    await new Promise((r) => setImmediate(r));
    inside--;
  };
  const rs = await Promise.all([
    s.server.handle(request('ADD')),
    s.server.handle(request('DEL')),
    s.server.handle(request('ADD')),
  ]);
  t.deepEqual(
    rs.map((r) => 'result' in r),
    [true, true, true],
  );
  t.is(maxInside, 1);
  t.is(s.ipam.list().length, 1);
});

test('DEL of an unknown container succeeds and CHECK of one is error 3', async (t) => {
  const s = await setup();
  t.deepEqual(await s.server.handle(request('DEL', { netns: '' })), { result: null });
  t.is(codeOf(await s.server.handle(request('CHECK'))), ErrorCode.ContainerUnknown);
});

test('CHECK reports a prevResult that lacks the allocated address', async (t) => {
  const s = await setup();
  s.dataplane.netns.add('/var/run/netns/p1');
  await s.server.handle(request('ADD'));
  const prevResult = { cniVersion: '1.0.0', ips: [{ address: '10.5.0.9/16', interface: 1 }] };
  const r = await s.server.handle(
    request('CHECK', { config: { cniVersion: '1.0.0', name: 'n', type: 'x', prevResult } }),
  );
  t.like(r, {
    error: {
      code: ErrorCode.InterfaceMismatch,
      details: 'prevResult lacks allocated address 10.5.0.2',
    },
  });
});

test('STATUS is error 50 without chunks', async (t) => {
  const s = await setup([]);
  const cfg = { cniVersion: '1.1.0', name: 'n', type: 'x' };
  t.is(
    codeOf(await s.server.handle(request('STATUS', { config: cfg }))),
    ErrorCode.PluginNotAvailable,
  );
  await s.ipam.setChunks(['10.5.0.0/28']);
  t.deepEqual(await s.server.handle(request('STATUS', { config: cfg })), { result: null });
});

test('reconcile tears down attachments of vanished netns and removes stray files and ports', async (t) => {
  const s = await setup();
  s.dataplane.netns.add('/var/run/netns/p1');
  s.dataplane.netns.add('/var/run/netns/p2');
  await s.server.handle(request('ADD'));
  await s.server.handle(
    request('ADD', { containerId: 'c2', netns: '/var/run/netns/p2', args: {} }),
  );
  s.dataplane.netns.delete('/var/run/netns/p2');
  await s.endpoints.remove('u1_c1_eth0');
  await s.endpoints.write({ ...(await s.endpoints.read('c2_eth0'))!, uuid: 'stray' });
  s.dataplane.ports.set('aci000000000000', {
    containerId: 'x',
    endpointUuid: 'x',
    mac: '02:00:00:00:00:00',
  });
  s.dataplane.ports.set('other-port', {
    containerId: 'x',
    endpointUuid: 'x',
    mac: '02:00:00:00:00:00',
  });

  const restarted = s.make(await s.open());
  const report = await restarted.reconcile();
  t.deepEqual(report, { kept: 1, removed: 1, strayEndpoints: 1, strayPorts: 1, failed: 0 });
  t.deepEqual((await s.endpoints.list()).sort(), ['u1_c1_eth0']);
  t.deepEqual(
    [...s.dataplane.ports.keys()].sort(),
    [hostVethName('c1', 'eth0'), 'other-port'].sort(),
  );
});

test('collectDeadPods tears down attachments of deleted pods', async (t) => {
  const s = await setup();
  s.dataplane.netns.add('/var/run/netns/p1');
  await s.server.handle(request('ADD'));
  await s.server.handle(
    request('ADD', { containerId: 'c2', args: { K8S_POD_NAMESPACE: 'ns', K8S_POD_NAME: 'p2' } }),
  );
  t.is(await s.server.collectDeadPods(new Set(['ns/p1'])), 1);
  t.deepEqual(
    s.ipam.list().map((a) => a.containerId),
    ['c1'],
  );
  t.is(s.dataplane.interfaces.size, 1);
});

test('the socket protocol: one JSON request, one JSON answer', async (t) => {
  const s = await setup();
  s.dataplane.netns.add('/var/run/netns/p1');
  await s.server.listen();
  t.teardown(() => s.server.close());
  const r = await callServer(join(s.dir, 'cni.sock'), request('ADD'));
  t.like(r, { result: { cniVersion: '1.0.0', ips: [{ address: '10.5.0.2/16' }] } });
  const e = await callServer(join(s.dir, 'cni.sock'), request('ADD', { containerId: '' }));
  t.is(codeOf(e), ErrorCode.InvalidEnvironment);
});

test('reconcile goes on past an attachment it cannot handle', async (t) => {
  const s = await setup(['10.5.0.0/28', '10.9.0.0/28']);
  s.dataplane.netns.add('/var/run/netns/p1');
  await s.server.handle(request('ADD'));
  // An allocation in no pod subnet (chunks and subnets disagree) cannot be planned.
  await s.ipam.setChunks(['10.9.0.0/28']);
  await s.ipam.allocate({ containerId: 'c9', ifName: 'eth0', netns: '/var/run/netns/p1' });
  const report = await s.make(await s.open()).reconcile();
  t.deepEqual(report, { kept: 1, removed: 0, strayEndpoints: 0, strayPorts: 0, failed: 1 });
  t.truthy(await s.endpoints.read('u1_c1_eth0'));
});

test('DEL of an unknown container succeeds even when OVS is unreachable', async (t) => {
  const s = await setup();
  s.dataplane.failNext.set('detachPort', new Error('ovsdb-server is down'));
  t.deepEqual(await s.server.handle(request('DEL')), { result: null });
});

test('DEL of a known container reports an OVS failure so the runtime retries, and keeps the IP', async (t) => {
  const s = await setup();
  s.dataplane.netns.add('/var/run/netns/p1');
  await s.server.handle(request('ADD'));
  s.dataplane.failNext.set('detachPort', new Error('ovsdb-server is down'));
  t.is(codeOf(await s.server.handle(request('DEL'))), ErrorCode.OvsFailure);
  t.is(s.ipam.list().length, 1);
  t.deepEqual(await s.server.handle(request('DEL')), { result: null });
  t.is(s.ipam.list().length, 0);
});

test('a pod the start-up reconcile could not restore (OVS not up yet) is restored by a retry', async (t) => {
  const s = await setup();
  s.dataplane.netns.add('/var/run/netns/p1');
  await s.server.handle(request('ADD'));
  // The node rebooted: a fresh OVS database has no pod ports, and ovsdb-server is still starting.
  s.dataplane.ports.clear();
  s.dataplane.failNext.set('attachPort', new Error('ovsdb-server: connection refused'));
  const restarted = s.make(await s.open());
  const report = await restarted.reconcile();
  t.is(report.failed, 1);
  t.false(s.dataplane.ports.has(hostVethName('c1', 'eth0')));
  t.is(await restarted.retryUnreconciled(), 0);
  t.true(s.dataplane.ports.has(hostVethName('c1', 'eth0')));
  t.truthy(await s.endpoints.read('u1_c1_eth0'));
  t.is(await restarted.retryUnreconciled(), 0, 'nothing left to retry');
});
