/**
 * The CNI path end to end, as a container runtime drives it: the plugin
 * executable is spawned with the CNI environment and the config on stdin,
 * talks to a real CNI server, which configures real veths in real network
 * namespaces on a private userspace Open vSwitch. Needs root, iproute2,
 * openvswitch-switch, iputils-ping.
 *
 * Serial: the tests share one OVS and one server (one restart test stops it).
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { EndpointFile } from '../../opflex/files.ts';
import { ErrorCode } from './protocol.ts';
import { CniResult } from './result.ts';
import { hostVethName } from '../netconf/names.ts';
import { run } from '../netconf/exec.ts';
import { linksIn, ping } from '../../../e2e/support/host/netns.ts';
import { invokePlugin, k8sArgs, startCniTestBed } from '../../../e2e/support/host/harness.ts';
import type { CniTestBed, PluginRun } from '../../../e2e/support/host/harness.ts';

let bed: CniTestBed | undefined;
const getBed = (): CniTestBed => {
  if (!bed) throw new Error('test bed did not start');
  return bed;
};

test.before(async () => {
  bed = await startCniTestBed();
});
test.after.always(async () => {
  await bed?.close();
});

interface Pod {
  readonly name: string;
  readonly netnsName: string;
  readonly netns: string;
  readonly containerId: string;
  readonly args: string;
}

let podCount = 0;
async function newPod(label: string): Promise<Pod> {
  const b = getBed();
  const n = ++podCount;
  const ns = await b.netns.create(`${label}${n}`);
  return {
    name: `${label}-${n}`,
    netnsName: ns.name,
    netns: ns.path,
    containerId: `ctr-${b.netns.tag}-${label}-${n}`,
    args: k8sArgs('demo', `${label}-${n}`, `uid-${label}-${n}`),
  };
}

function cni(
  command: string,
  pod: Pod,
  extra: { config?: Record<string, unknown>; viaWrapper?: boolean } = {},
): Promise<PluginRun> {
  return invokePlugin({
    command,
    containerId: pod.containerId,
    netns: pod.netns,
    ifName: 'eth0',
    args: pod.args,
    config: getBed().config(extra.config),
    ...(extra.viaWrapper ? { viaWrapper: true } : {}),
  });
}

function resultOf(r: PluginRun): CniResult {
  if (r.code !== 0) throw new Error(`plugin failed (${r.code}): ${r.stdout}${r.stderr}`);
  return CniResult.parse(r.json);
}

const v4Of = (res: CniResult): string =>
  (res.ips ?? []).find((i) => !i.address.includes(':'))?.address.split('/')[0] ?? '';

test.serial(
  'ADD through the plugin executable wires pods that reach each other and their gateway',
  async (t) => {
    const b = getBed();
    const pods = [await newPod('web'), await newPod('web'), await newPod('web')];
    const results: CniResult[] = [];
    for (const [i, p] of pods.entries()) {
      // One pod through the shell wrapper in CNI_PATH, as a runtime execs it.
      results.push(resultOf(await cni('ADD', p, { viaWrapper: i === 2 })));
    }

    for (const [i, res] of results.entries()) {
      const pod = pods[i]!;
      t.is(res.cniVersion, '1.0.0');
      t.deepEqual(res.interfaces?.[1], {
        name: 'eth0',
        mac: res.interfaces?.[1]?.mac,
        sandbox: pod.netns,
      });
      t.is(res.interfaces?.[0]?.name, hostVethName(pod.containerId, 'eth0'));
      t.deepEqual(
        res.ips?.map((ip) => [ip.gateway, ip.interface]),
        [
          ['10.123.0.1', 1],
          ['fd00:123::1', 1],
        ],
      );
      t.deepEqual(res.routes, [
        { dst: '0.0.0.0/0', gw: '10.123.0.1' },
        { dst: '::/0', gw: 'fd00:123::1' },
      ]);
    }
    const v4 = results.map(v4Of);
    t.is(new Set(v4).size, 3);

    t.true(await ping(pods[0]!.netnsName, '10.123.0.1'), 'pod 0 reaches the IPv4 gateway');
    t.true(await ping(pods[0]!.netnsName, 'fd00:123::1'), 'pod 0 reaches the IPv6 gateway');
    t.true(await ping(pods[0]!.netnsName, v4[1]!), 'pod 0 reaches pod 1');
    t.true(await ping(pods[2]!.netnsName, v4[0]!), 'pod 2 reaches pod 0');

    const ports = (await b.ovs.vsctl('list-ports', b.ovs.bridge)).split('\n');
    for (const p of pods) t.true(ports.includes(hostVethName(p.containerId, 'eth0')));

    const ep = EndpointFile.parse(
      JSON.parse(
        await readFile(
          b.endpoints.pathOf(`uid-${pods[0]!.name}_${pods[0]!.containerId}_eth0`),
          'utf8',
        ),
      ),
    );
    t.like(ep, {
      namespace: 'demo',
      podName: pods[0]!.name,
      interfaceName: hostVethName(pods[0]!.containerId, 'eth0'),
      mac: results[0]!.interfaces?.[1]?.mac,
      gateways: ['10.123.0.1', 'fd00:123::1'],
      endpointGroup: {
        tenant: 'kube',
        appProfile: 'aci-containers-kube',
        name: 'aci-containers-default',
      },
    });
    t.deepEqual(
      ep.ips,
      results[0]!.ips?.map((i) => i.address.split('/')[0]),
    );

    for (const p of pods) t.is((await cni('DEL', p)).code, 0);
  },
);

test.serial('ADD twice for the same container is idempotent', async (t) => {
  const pod = await newPod('twice');
  const first = resultOf(await cni('ADD', pod));
  const second = resultOf(await cni('ADD', pod));
  t.deepEqual(second, first);
  t.deepEqual(await linksIn(getBed().node.name, hostVethName(pod.containerId, 'eth0')), [
    hostVethName(pod.containerId, 'eth0'),
  ]);
  t.true(await ping(pod.netnsName, '10.123.0.1'));
  t.is((await cni('DEL', pod)).code, 0);
});

test.serial(
  'CHECK passes on a healthy pod and detects an address removed inside the netns',
  async (t) => {
    const pod = await newPod('check');
    const res = resultOf(await cni('ADD', pod));
    const ok = await cni('CHECK', pod, { config: { prevResult: res } });
    t.is(ok.code, 0, ok.stdout);
    t.is(ok.stdout, '');

    await run('ip', ['-n', pod.netnsName, 'addr', 'del', res.ips![0]!.address, 'dev', 'eth0']);
    const broken = await cni('CHECK', pod, { config: { prevResult: res } });
    t.is(broken.code, 1);
    t.like(broken.json, { cniVersion: '1.0.0', code: ErrorCode.InterfaceMismatch });
    t.regex(
      (broken.json as { details: string }).details,
      new RegExp(`address ${res.ips![0]!.address} is missing`),
    );
    t.is((await cni('DEL', pod)).code, 0);
  },
);

test.serial('CHECK of an unknown container is error 3', async (t) => {
  const pod = await newPod('unknown');
  const r = await cni('CHECK', pod);
  t.is(r.code, 1);
  t.like(r.json, { code: ErrorCode.ContainerUnknown });
});

test.serial(
  'DEL removes veth, OVS port, endpoint file and IP; a second DEL and a DEL of an unknown container succeed',
  async (t) => {
    const b = getBed();
    const pod = await newPod('del');
    const res = resultOf(await cni('ADD', pod));
    const hostIf = hostVethName(pod.containerId, 'eth0');
    const uuid = `uid-${pod.name}_${pod.containerId}_eth0`;
    t.truthy(await b.endpoints.read(uuid));

    const del = await cni('DEL', pod);
    t.is(del.code, 0, del.stdout);
    t.is(del.stdout, '');
    t.deepEqual(await linksIn(getBed().node.name, hostIf), []);
    t.false((await b.ovs.vsctl('list-ports', b.ovs.bridge)).split('\n').includes(hostIf));
    t.is(await b.endpoints.read(uuid), undefined);
    t.is(b.ipam.find(pod.containerId, 'eth0'), undefined);
    t.false(b.ipam.usage().v4.addresses.includes(v4Of(res)));
    // The interface inside the pod went with its peer.
    t.false((await run('ip', ['-n', pod.netnsName, '-o', 'link', 'show'])).includes('eth0'));

    t.is((await cni('DEL', pod)).code, 0);
    const stranger = await invokePlugin({
      command: 'DEL',
      containerId: 'never-added',
      ifName: 'eth0',
      config: b.config(),
    });
    t.is(stranger.code, 0, stranger.stdout);
    t.is(stranger.stdout, '');
  },
);

test.serial('a failed ADD rolls back: no veth, no endpoint file, no IP', async (t) => {
  const b = getBed();
  const pod = await newPod('fail');
  // An eth0 already in the pod netns makes the veth creation fail.
  await run('ip', [
    '-n',
    pod.netnsName,
    'link',
    'add',
    'eth0',
    'type',
    'veth',
    'peer',
    'name',
    'eth0peer',
  ]);
  const before = b.ipam.usage().v4.used;
  const r = await cni('ADD', pod);
  t.is(r.code, 1);
  t.like(r.json, {
    cniVersion: '1.0.0',
    code: ErrorCode.InterfaceSetupFailed,
    msg: 'failed to configure the pod interface',
  });
  t.is(b.ipam.usage().v4.used, before);
  t.deepEqual(await linksIn(getBed().node.name, hostVethName(pod.containerId, 'eth0')), []);
  t.deepEqual(
    (await b.endpoints.list()).filter((u) => u.includes(pod.containerId)),
    [],
  );
});

test.serial(
  'a host agent restart loses no allocation and reconcile removes pods whose netns vanished',
  async (t) => {
    const b = getBed();
    const kept = await newPod('keep');
    const gone = await newPod('gone');
    const keptRes = resultOf(await cni('ADD', kept));
    const goneRes = resultOf(await cni('ADD', gone));

    await b.server.close();
    // While the agent is down the runtime deletes a pod's netns without DEL.
    await b.netns.remove(gone.netnsName);
    await b.restart();

    t.deepEqual(
      b.ipam.find(kept.containerId, 'eth0')?.ips,
      keptRes.ips?.map((i) => i.address.split('/')[0]),
    );
    t.is(b.ipam.find(gone.containerId, 'eth0'), undefined);
    t.false(b.ipam.usage().v4.addresses.includes(v4Of(goneRes)));
    t.is(await b.endpoints.read(`uid-${gone.name}_${gone.containerId}_eth0`), undefined);

    // The survivor still works, a repeated ADD returns its address, and a new pod gets a fresh one.
    t.true(await ping(kept.netnsName, '10.123.0.1'));
    t.deepEqual(resultOf(await cni('ADD', kept)), keptRes);
    const fresh = await newPod('fresh');
    const freshRes = resultOf(await cni('ADD', fresh));
    t.not(v4Of(freshRes), v4Of(keptRes));
    t.true(await ping(fresh.netnsName, v4Of(keptRes)));
    t.is((await cni('DEL', kept)).code, 0);
    t.is((await cni('DEL', fresh)).code, 0);
  },
);

test.serial('20 concurrent ADDs get distinct addresses and working interfaces', async (t) => {
  const b = getBed();
  const pods = await Promise.all(Array.from({ length: 20 }, () => newPod('burst')));
  const runs = await Promise.all(pods.map((p) => cni('ADD', p)));
  const results = runs.map(resultOf);
  const v4 = results.map(v4Of);
  const v6 = results.map((r) => r.ips?.[1]?.address);
  t.is(new Set(v4).size, 20);
  t.is(new Set(v6).size, 20);
  t.is(b.ipam.list().length, 20);
  t.true(await ping(pods[19]!.netnsName, v4[0]!));
  t.true(await ping(pods[0]!.netnsName, '10.123.0.1'));
  const dels = await Promise.all(pods.map((p) => cni('DEL', p)));
  t.deepEqual(
    dels.map((d) => d.code),
    pods.map(() => 0),
  );
  t.is(b.ipam.list().length, 0);
});

test.serial('STATUS and GC (CNI 1.1) through the plugin', async (t) => {
  const b = getBed();
  const status = await invokePlugin({
    command: 'STATUS',
    config: b.config({ cniVersion: '1.1.0' }),
  });
  t.is(status.code, 0, status.stdout);

  const keep = await newPod('gckeep');
  const stale = await newPod('gcstale');
  resultOf(await cni('ADD', keep, { config: { cniVersion: '1.1.0' } }));
  resultOf(await cni('ADD', stale, { config: { cniVersion: '1.1.0' } }));
  const gc = await invokePlugin({
    command: 'GC',
    config: b.config({
      cniVersion: '1.1.0',
      'cni.dev/valid-attachments': [{ containerID: keep.containerId, ifname: 'eth0' }],
    }),
  });
  t.is(gc.code, 0, gc.stdout);
  t.truthy(b.ipam.find(keep.containerId, 'eth0'));
  t.is(b.ipam.find(stale.containerId, 'eth0'), undefined);
  t.deepEqual(await linksIn(getBed().node.name, hostVethName(stale.containerId, 'eth0')), []);
  t.is((await cni('DEL', keep)).code, 0);
});
