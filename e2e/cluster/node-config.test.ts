import test from 'ava';
import { parse } from 'yaml';
import {
  containerdConfig,
  hostPathOf,
  kubeletConfig,
  nodeIdentity,
  nodeInitScript,
  nodeMounts,
  nodeNetwork,
  privateNodePaths,
  referenceRoutes,
} from './node-config.ts';

const network = nodeNetwork('/tmp/some-cluster');
const node = (i: number) => nodeIdentity(network, '/tmp/some-cluster', `aci-node-${i}`, i);
const files = { caCert: 'ca', servingCert: 'crt', servingKey: 'key', resolvConf: 'resolv' };

test('two clusters in different folders get different bridges and host-side names', (t) => {
  const other = nodeNetwork('/tmp/other-cluster');
  t.not(other.bridge, network.bridge);
  t.not(nodeIdentity(other, '/tmp/other-cluster', 'n', 0).hostVeth, node(0).hostVeth);
  t.is(nodeNetwork('/tmp/some-cluster').bridge, network.bridge, 'stable for the same folder');
});

test('interface names fit the kernel limit of 15 characters', (t) => {
  for (const name of [network.bridge, node(200).hostVeth, `${node(200).hostVeth}p`]) {
    t.true(name.length <= 15, name);
  }
});

test('a node IP is on the node network, never loopback, and the gateway is the API address', (t) => {
  const base = network.subnet.split('.').slice(0, 3).join('.');
  t.true(node(0).ip.startsWith(`${base}.`));
  t.not(node(0).ip, network.gateway);
  t.false(node(0).ip.startsWith('127.'));
  t.throws(() => node(201), { message: /out of range/ });
});

test('the kubelet is told what this machine needs: cgroup v1 allowed, cgroupfs, its own cgroup root', (t) => {
  const config = kubeletConfig(node(1), files);
  t.is(config.failCgroupV1, false);
  t.is(config.cgroupDriver, 'cgroupfs');
  t.is(config.cgroupRoot, node(1).cgroupRoot);
  t.is(config.address, node(1).ip);
  t.deepEqual(config.authorization, { mode: 'Webhook' });
  t.is((config.authentication as { anonymous: { enabled: boolean } }).anonymous.enabled, false);
  t.is(config.readOnlyPort, 0);
});

test('containerd restricts oom_score_adj (no CAP_SYS_RESOURCE here) and uses the cgroupfs driver', (t) => {
  const toml = containerdConfig();
  t.regex(toml, /restrict_oom_score_adj = true/);
  t.regex(toml, /SystemdCgroup = false/);
  t.regex(toml, /sandbox_image = "registry\.k8s\.io\/pause:3\.10"/);
});

test('every private node path is bind-mounted from the node folder, after making mounts shared', (t) => {
  const script = nodeInitScript(node(0));
  const lines = script.split('\n');
  t.true(
    lines.indexOf('mount --make-rshared /') < lines.findIndex((l) => l.startsWith('mount --bind')),
  );
  const mounts = nodeMounts(node(0));
  t.deepEqual(
    mounts.map((m) => m.target),
    [...privateNodePaths],
  );
  for (const { source, target } of mounts) {
    t.true(source.startsWith(node(0).dir), source);
    t.true(script.includes(`mount --bind '${source}' '${target}'`));
  }
  t.is(lines.at(-1), 'exec sleep infinity');
});

test('reference routes lead to every other node and never to the node itself', (t) => {
  const all = [node(0), node(1), node(2)];
  const routes = referenceRoutes(node(1), all);
  t.deepEqual(
    routes.map((r) => r.at(-1)),
    [node(0).ip, node(2).ip],
  );
});

test('the kubelet configuration is valid YAML-serializable data', (t) => {
  t.notThrows(() => parse(JSON.stringify(kubeletConfig(node(0), files))));
});

test('a path inside the node maps to the host through its private mounts only', (t) => {
  const n = node(0);
  t.is(hostPathOf(n, '/run/openvswitch/db.sock'), `${n.dir}/fs/run/openvswitch/db.sock`);
  t.is(hostPathOf(n, '/var/lib/kubelet'), `${n.dir}/fs/var_lib_kubelet`);
  t.is(hostPathOf(n, '/usr/bin/ovs-vsctl'), '/usr/bin/ovs-vsctl');
  t.is(hostPathOf(n, '/running'), '/running', 'a prefix of a name is not a parent folder');
});
