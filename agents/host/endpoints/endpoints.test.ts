import test from 'ava';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EndpointFile } from '../../opflex/files.ts';
import {
  EndpointFileStore,
  buildEndpointFile,
  defaultEndpointPolicy,
  endpointUuid,
} from './index.ts';

const dirs: string[] = [];
test.after.always(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const input = {
  uuid: 'u1_c1_eth0',
  namespace: 'ns',
  podName: 'p1',
  containerId: 'c1',
  hostIfName: 'aci0123456789ab',
  mac: '02:00:00:00:00:02',
  ips: ['10.2.0.5', 'fd00::5'],
  gateways: ['10.2.0.1', 'fd00::1'],
  policy: {
    endpointGroup: { tenant: 't', appProfile: 'ap', name: 'epg' },
    securityGroups: ['sg-a'],
    bridgeDomain: 'bd',
  },
};

test('endpoint uuid is <pod uid>_<container id>_<ifname>, leaving out what is unknown', (t) => {
  t.is(endpointUuid('u1', 'c1', 'eth0'), 'u1_c1_eth0');
  t.is(endpointUuid(undefined, 'c1', 'eth0'), 'c1_eth0');
  t.is(endpointUuid('', 'c1', 'eth0'), 'c1_eth0');
});

test('the endpoint file follows the shared opflex schema', (t) => {
  const ep = buildEndpointFile(input);
  t.deepEqual(EndpointFile.parse(ep), ep);
  t.like(ep, {
    interfaceName: 'aci0123456789ab',
    securityGroups: ['sg-a'],
    attributes: { 'vm-name': 'p1', 'container-id': 'c1' },
  });
  t.throws(() => buildEndpointFile({ ...input, mac: 'not-a-mac' }));
});

test('the default policy is the original default EPG of the system', async (t) => {
  t.deepEqual(await defaultEndpointPolicy('kube')({ namespace: 'a', name: 'b', labels: {} }), {
    endpointGroup: {
      tenant: 'kube',
      appProfile: 'aci-containers-kube',
      name: 'aci-containers-default',
    },
    securityGroups: [],
    bridgeDomain: 'aci-containers-kube-pod-bd',
  });
});

test('store writes atomically, lists, reads back, removes idempotently, and ignores bad files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ep-'));
  dirs.push(dir);
  const store = new EndpointFileStore(join(dir, 'endpoints'));
  t.deepEqual(await store.list(), []);
  const ep = buildEndpointFile(input);
  await store.write(ep);
  t.deepEqual(await readdir(join(dir, 'endpoints')), ['u1_c1_eth0.ep']);
  t.deepEqual(await store.read('u1_c1_eth0'), ep);
  await writeFile(join(dir, 'endpoints', 'broken.ep'), '{"uuid":');
  t.is(await store.read('broken'), undefined);
  t.deepEqual((await store.list()).sort(), ['broken', 'u1_c1_eth0']);
  t.true(await store.remove('u1_c1_eth0'));
  t.false(await store.remove('u1_c1_eth0'));
});
