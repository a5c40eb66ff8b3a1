import test from 'ava';
import { ErrorCode, ProtocolVersion, parseCniArgs } from '../host/cniserver/protocol.ts';
import type { CniRequest, CniResponse } from '../host/cniserver/protocol.ts';
import { invokePlugin } from '../../e2e/support/host/harness.ts';
import { ServerUnreachableError } from './client.ts';
import { runPlugin } from './plugin.ts';
import type { ServerCall } from './plugin.ts';

const config = {
  cniVersion: '1.0.0',
  name: 'net',
  type: 'aci-containers-cni',
  serverSocket: '/run/test.sock',
};
const env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/p',
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'A=1;B=2',
};

function recorder(response: CniResponse): {
  call: ServerCall;
  seen: { socket: string; request: CniRequest }[];
} {
  const seen: { socket: string; request: CniRequest }[] = [];
  return {
    seen,
    call: async (socket, request) => {
      seen.push({ socket, request });
      return response;
    },
  };
}

const noServer: ServerCall = async () => {
  throw new Error('server must not be called');
};

test('ADD forwards the environment and config and prints the result', async (t) => {
  const r = recorder({ result: { cniVersion: '1.0.0', ips: [] } });
  const out = await runPlugin(env, JSON.stringify(config), r.call);
  t.deepEqual(out, { stdout: '{"cniVersion":"1.0.0","ips":[]}\n', exitCode: 0 });
  t.deepEqual(r.seen, [
    {
      socket: '/run/test.sock',
      request: {
        protocol: ProtocolVersion,
        command: 'ADD',
        containerId: 'c1',
        netns: '/var/run/netns/p',
        ifName: 'eth0',
        args: { A: '1', B: '2' },
        config,
      },
    },
  ]);
});

test('DEL, CHECK and GC print nothing on success', async (t) => {
  for (const command of ['DEL', 'CHECK']) {
    t.deepEqual(
      await runPlugin(
        { ...env, CNI_COMMAND: command },
        JSON.stringify(config),
        recorder({ result: null }).call,
      ),
      {
        stdout: '',
        exitCode: 0,
      },
    );
  }
  const gc = await runPlugin(
    { CNI_COMMAND: 'GC' },
    JSON.stringify({ ...config, cniVersion: '1.1.0' }),
    recorder({ result: null }).call,
  );
  t.deepEqual(gc, { stdout: '', exitCode: 0 });
});

test('a server error is printed as is with exit code 1', async (t) => {
  const error = { cniVersion: '1.0.0', code: 100, msg: 'failed to allocate a pod IP address' };
  t.deepEqual(await runPlugin(env, JSON.stringify(config), recorder({ error }).call), {
    stdout: `${JSON.stringify(error)}\n`,
    exitCode: 1,
  });
});

const errorCode = (stdout: string): number => (JSON.parse(stdout) as { code: number }).code;

test('errors found before the server: decode, config, version, environment', async (t) => {
  const cases: [Record<string, string>, string, number][] = [
    [env, '{oops', ErrorCode.DecodeFailure],
    [env, JSON.stringify({ cniVersion: '1.0.0' }), ErrorCode.InvalidNetworkConfig],
    [env, JSON.stringify({ ...config, mtu: 'big' }), ErrorCode.InvalidNetworkConfig],
    [env, JSON.stringify({ ...config, cniVersion: '2.0.0' }), ErrorCode.IncompatibleVersion],
    [{ ...env, CNI_COMMAND: 'STATUS' }, JSON.stringify(config), ErrorCode.IncompatibleVersion],
    [{ ...env, CNI_COMMAND: 'EXPLODE' }, JSON.stringify(config), ErrorCode.InvalidEnvironment],
    [{ ...env, CNI_NETNS: '' }, JSON.stringify(config), ErrorCode.InvalidEnvironment],
    [{ ...env, CNI_CONTAINERID: '' }, JSON.stringify(config), ErrorCode.InvalidEnvironment],
    [{ ...env, CNI_ARGS: 'novalue' }, JSON.stringify(config), ErrorCode.InvalidEnvironment],
  ];
  for (const [e, stdin, code] of cases) {
    const out = await runPlugin(e, stdin, noServer);
    t.is(out.exitCode, 1, stdin);
    t.is(errorCode(out.stdout), code, `${JSON.stringify(e)} ${stdin}`);
  }
});

test('DEL needs no CNI_NETNS', async (t) => {
  const out = await runPlugin(
    { ...env, CNI_COMMAND: 'DEL', CNI_NETNS: '' },
    JSON.stringify(config),
    recorder({ result: null }).call,
  );
  t.is(out.exitCode, 0);
});

test('an unreachable server is "try again later", or "not available" for STATUS', async (t) => {
  const down: ServerCall = async (socket) => {
    throw new ServerUnreachableError(socket, new Error('ENOENT'));
  };
  t.is(
    errorCode((await runPlugin(env, JSON.stringify(config), down)).stdout),
    ErrorCode.TryAgainLater,
  );
  const status = await runPlugin(
    { CNI_COMMAND: 'STATUS' },
    JSON.stringify({ ...config, cniVersion: '1.1.0' }),
    down,
  );
  t.is(errorCode(status.stdout), ErrorCode.PluginNotAvailable);
});

test('CNI_ARGS parsing', (t) => {
  t.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=a=b;'), {
    IgnoreUnknown: '1',
    K8S_POD_NAME: 'a=b',
  });
  t.deepEqual(parseCniArgs(''), {});
  t.is(parseCniArgs('x'), undefined);
  t.is(parseCniArgs('=v'), undefined);
});

test('the executable: VERSION, and exit code 1 with error 11 when no server listens', async (t) => {
  const version = await invokePlugin({ command: 'VERSION', config: { cniVersion: '1.0.0' } });
  t.is(version.code, 0);
  t.deepEqual(version.json, {
    cniVersion: '1.1.0',
    supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
  const add = await invokePlugin({
    command: 'ADD',
    containerId: 'c1',
    netns: '/var/run/netns/none',
    ifName: 'eth0',
    config: { ...config, serverSocket: `/tmp/no-such-cni-${process.pid}.sock` },
  });
  t.is(add.code, 1);
  t.like(add.json, {
    cniVersion: '1.0.0',
    code: ErrorCode.TryAgainLater,
    msg: 'the host agent CNI server is not running',
  });
});
