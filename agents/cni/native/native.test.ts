/**
 * The native plugin (forward.c) against the node plugin it stands in for:
 * the same inputs through both, against one real CNI server (in-memory data
 * plane), must print the same thing and exit the same way. The fast path
 * must need nothing next to it; the cases it leaves to the node plugin
 * (no server, a config it cannot scan) must still answer.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { bundle } from '../../../scripts/bundle.ts';
import { EndpointFileStore } from '../../host/endpoints/index.ts';
import { IpamStore, reservedAddresses } from '../../host/ipam/index.ts';
import { CniServer } from '../../host/cniserver/server.ts';
import { ErrorCode } from '../../host/cniserver/protocol.ts';
import { FakeDataplane } from '../../../e2e/support/host/fakedataplane.ts';
import { buildNativePlugin, FallbackBundleName, FallbackNodeName } from './build.ts';

const subnets = [{ cidr: '10.6.0.0/16', gateway: '10.6.0.1' }];
let dir = '';
/** Native plugin with the node plugin beside it, as cni-install lays them out. */
let installed = '';
/** The native plugin alone: whatever it answers came from its own fast path. */
let alone = '';
let nodePlugin = '';
let socketPath = '';
let server: CniServer | undefined;
let dataplane: FakeDataplane | undefined;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cni-native-'));
  const bin = join(dir, 'bin');
  const bare = join(dir, 'bare');
  await Promise.all([mkdir(bin), mkdir(bare)]);
  installed = join(bin, 'aci-containers-cni');
  alone = join(bare, 'aci-containers-cni');
  await buildNativePlugin(installed);
  await copyFile(installed, alone);
  const dist = join(dir, 'dist');
  await bundle({ outDir: dist });
  nodePlugin = join(bin, FallbackBundleName);
  await copyFile(join(dist, FallbackBundleName), nodePlugin);
  await symlink(process.execPath, join(bin, FallbackNodeName));

  const ipam = await IpamStore.open({
    path: join(dir, 'ipam.json'),
    reserved: reservedAddresses(subnets),
  });
  await ipam.setChunks(['10.6.0.0/28']);
  dataplane = new FakeDataplane();
  dataplane.netns.add('/var/run/netns/p1');
  dataplane.netns.add('/var/run/netns/p2');
  socketPath = join(dir, 'cni.sock');
  server = new CniServer({
    socketPath,
    ipam,
    endpoints: new EndpointFileStore(join(dir, 'endpoints')),
    dataplane,
    subnets,
    logger: pino({ level: 'silent' }),
    endpointPolicy: () => ({
      endpointGroup: { tenant: 't', appProfile: 'ap', name: 'default' },
      securityGroups: [],
      bridgeDomain: 'bd',
    }),
    podLabels: () => ({}),
  });
  await server.listen();
});

test.after.always(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
}

function run(argv: string[], env: Record<string, string>, stdin: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
    child.stdin.end(stdin);
  });
}

const native = (env: Record<string, string>, stdin: string) => run([installed], env, stdin);
const nativeAlone = (env: Record<string, string>, stdin: string) => run([alone], env, stdin);
const viaNode = (env: Record<string, string>, stdin: string) =>
  run([process.execPath, nodePlugin], env, stdin);

const config = () => ({
  cniVersion: '1.0.0',
  name: 'net',
  type: 'aci-containers-cni',
  serverSocket: socketPath,
});
const env = (over: Record<string, string> = {}): Record<string, string> => ({
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/p1',
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p1;K8S_POD_UID=u1',
  CNI_PATH: '/opt/cni/bin',
  ...over,
});

test.serial('every answer is the node plugin’s: results, errors, VERSION', async (t) => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['ADD', env(), JSON.stringify(config())],
    ['ADD again (idempotent)', env(), JSON.stringify(config())],
    ['CHECK', env({ CNI_COMMAND: 'CHECK' }), JSON.stringify(config())],
    ['VERSION', { CNI_COMMAND: 'VERSION' }, ''],
    ['undecodable stdin', env(), `{"serverSocket":"${socketPath}", oops`],
    ['missing CNI_NETNS', env({ CNI_NETNS: '' }), JSON.stringify(config())],
    ['bad CNI_ARGS', env({ CNI_ARGS: 'novalue' }), JSON.stringify(config())],
    ['unknown command', env({ CNI_COMMAND: 'EXPLODE' }), JSON.stringify(config())],
    ['unsupported version', env(), JSON.stringify({ ...config(), cniVersion: '9.9.9' })],
    ['STATUS before 1.1.0', env({ CNI_COMMAND: 'STATUS' }), JSON.stringify(config())],
    [
      'text with quotes, escapes and a nested serverSocket',
      env({ CNI_CONTAINERID: 'c2', CNI_NETNS: '/var/run/netns/p2' }),
      JSON.stringify({
        ...config(),
        runtimeConfig: { note: 'a "quoted" \\ value\n', serverSocket: '/nowhere' },
      }),
    ],
    ['DEL', env({ CNI_COMMAND: 'DEL' }), JSON.stringify(config())],
  ];
  for (const [what, e, stdin] of cases) {
    const ours = await native(e, stdin);
    const node = await viaNode(e, stdin);
    t.deepEqual(ours, node, what);
  }
  const add = await native(env({ CNI_CONTAINERID: 'c3' }), JSON.stringify(config()));
  t.is(add.code, 0);
  t.like(JSON.parse(add.stdout), { cniVersion: '1.0.0', ips: [{ gateway: '10.6.0.1' }] });
});

test.serial('the fast path needs nothing beside it', async (t) => {
  const add = await nativeAlone(
    env({ CNI_CONTAINERID: 'c4', CNI_ARGS: 'K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p4;K8S_POD_UID=u4' }),
    JSON.stringify(config()),
  );
  t.is(add.code, 0, add.stdout);
  t.truthy((JSON.parse(add.stdout) as { ips?: unknown[] }).ips?.length);
  const version = await nativeAlone({ CNI_COMMAND: 'VERSION' }, '');
  t.deepEqual(version, await viaNode({ CNI_COMMAND: 'VERSION' }, ''));
});

test.serial(
  'what it cannot decide goes to the node plugin: no server, an escaped or repeated serverSocket',
  async (t) => {
    const missing = JSON.stringify({ ...config(), serverSocket: join(dir, 'absent.sock') });
    const ours = await native(env(), missing);
    t.deepEqual(ours, await viaNode(env(), missing));
    t.is((JSON.parse(ours.stdout) as { code: number }).code, ErrorCode.TryAgainLater);

    const escaped = JSON.stringify(config()).replace(socketPath, socketPath.replace('/', '\\/'));
    const repeated = `{"serverSocket":"/nowhere",${JSON.stringify(config()).slice(1)}`;
    for (const stdin of [escaped, repeated]) {
      const check = env({ CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'c3' });
      const r = await native(check, stdin);
      t.deepEqual(r, await viaNode(check, stdin), stdin);
      t.is(r.code, 0, r.stdout);
    }
  },
);

test.serial('without a server or a node plugin it still answers a CNI error', async (t) => {
  const stdin = JSON.stringify({
    ...config(),
    cniVersion: '0.4.0',
    serverSocket: join(dir, 'absent.sock'),
  });
  const r = await nativeAlone(env(), stdin);
  t.is(r.code, 1);
  t.like(JSON.parse(r.stdout), { cniVersion: '0.4.0', code: ErrorCode.TryAgainLater });
});
