/**
 * The client against a scripted leaf (lib/opflex's RpcConnection on plain
 * TCP, the client in its insecure-plaintext mode): the handshake rules, a
 * hostile leaf, and the keepalive.
 */
import test from 'ava';
import { createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { FirstRequestCounter, RpcConnection } from '../../../lib/opflex/connection.ts';
import type { JsonValue } from '../../../lib/opflex/json.ts';
import { platformConfigUri } from '../../../lib/opflex/uri.ts';
import { OpflexClient } from './client.ts';

const log = pino({ level: 'silent' });
const domain = 'kube';

interface FakeLeaf {
  port: number;
  server: Server;
  connections: RpcConnection[];
  sockets: Socket[];
  requests: { method: string; params: JsonValue }[];
  stop: () => Promise<void>;
}

type Script = (method: string, params: JsonValue, port: number) => object;

async function fakeLeaf(script: Script): Promise<FakeLeaf> {
  const leaf = { connections: [], sockets: [], requests: [] } as unknown as FakeLeaf;
  const server = createServer((socket) => {
    leaf.sockets.push(socket);
    const conn = new RpcConnection(socket, {
      handler: (method, params) => {
        leaf.requests.push({ method, params });
        return script(method, params, leaf.port);
      },
    });
    leaf.connections.push(conn);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  leaf.server = server;
  leaf.port = (server.address() as { port: number }).port;
  leaf.stop = async () => {
    for (const c of leaf.connections) c.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return leaf;
}

const identity = (port: number, listSelf = true): object => ({
  name: 'fake-leaf',
  domain,
  my_role: ['policy_repository', 'endpoint_registry'],
  peers: listSelf ? [{ role: ['policy_repository'], connectivity_info: `127.0.0.1:${port}` }] : [],
});

function client(
  port: number,
  extra: Partial<ConstructorParameters<typeof OpflexClient>[0]> = {},
): OpflexClient {
  return new OpflexClient({
    name: 'node-1',
    domain,
    peers: [{ host: '127.0.0.1', port }],
    tls: { mode: 'insecure-plaintext' },
    log,
    backoff: { initialMs: 20, maxMs: 100 },
    ...extra,
  });
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('echo first, then send_identity; request ids count from 2^63', async (t) => {
  const leaf = await fakeLeaf((method, _params, port) =>
    method === 'send_identity' ? identity(port) : { policy: [] },
  );
  const c = client(leaf.port);
  const firstIds: unknown[] = [];
  leaf.server.once('connection', (socket: Socket) =>
    socket.once('data', (chunk) => firstIds.push(chunk.toString().slice(0, 60))),
  );
  try {
    c.start();
    await until('the first resolve', () => leaf.requests.length >= 2);
    t.deepEqual(
      leaf.requests.slice(0, 2).map((r) => r.method),
      ['send_identity', 'policy_resolve'],
      'echo is answered by the connection itself, before any handler',
    );
    t.regex(String(firstIds[0]), new RegExp(`"id":\\["echo",${FirstRequestCounter}\\]`));
    t.like(leaf.requests[0]?.params, [{ name: 'node-1', domain, my_role: ['policy_element'] }]);
    t.like(leaf.requests[1]?.params, [
      { subject: 'PlatformConfig', policy_uri: platformConfigUri(domain) },
    ]);
  } finally {
    await c.stop();
    await leaf.stop();
  }
});

test('a leaf that does not list itself among its peers is left, and tried again with backoff', async (t) => {
  const leaf = await fakeLeaf((method, _params, port) =>
    method === 'send_identity' ? identity(port, false) : { policy: [] },
  );
  const c = client(leaf.port);
  try {
    c.start();
    await until(
      'three attempts',
      () => leaf.requests.filter((r) => r.method === 'send_identity').length >= 3,
    );
    t.false(c.isReady);
    t.is(c.stats.sessions, 0);
    t.false(leaf.requests.some((r) => r.method === 'policy_resolve'));
  } finally {
    await c.stop();
    await leaf.stop();
  }
});

test('a hostile leaf: a malformed update gets an error, a reference loop is reported and not followed forever', async (t) => {
  const pc = platformConfigUri(domain);
  const a = '/PolicyUniverse/PolicySpace/t/GbpContract/a/';
  const b = '/PolicyUniverse/PolicySpace/t/GbpContract/b/';
  const loopObjects = [
    {
      subject: 'PlatformConfig',
      uri: pc,
      properties: [{ name: 'x', data: { subject: 'GbpContract', reference_uri: a } }],
      children: [],
    },
  ];
  const leaf = await fakeLeaf((method, params, port) => {
    if (method === 'send_identity') return identity(port);
    if (method === 'policy_resolve') {
      const uri = (params as { policy_uri: string }[])[0]?.policy_uri;
      if (uri === pc) return { policy: loopObjects };
      if (uri === a)
        return {
          policy: [
            {
              subject: 'GbpContract',
              uri: a,
              properties: [{ name: 'r', data: { subject: 'GbpContract', reference_uri: b } }],
              children: [],
            },
          ],
        };
      if (uri === b)
        return {
          policy: [
            {
              subject: 'GbpContract',
              uri: b,
              properties: [{ name: 'r', data: { subject: 'GbpContract', reference_uri: a } }],
              children: [],
            },
          ],
        };
    }
    return {};
  });
  const c = client(leaf.port);
  try {
    c.start();
    await until('the loop', () => c.store.has(b) && c.stats.loopsReported > 0);
    const resolves = leaf.requests.filter((r) => r.method === 'policy_resolve').length;
    await new Promise((r) => setTimeout(r, 200));
    t.is(
      leaf.requests.filter((r) => r.method === 'policy_resolve').length,
      resolves,
      'no endless resolving',
    );
    const conn = leaf.connections.at(-1) as RpcConnection;
    await t.throwsAsync(conn.request('policy_update', [{ replace: [{ uri: 'no-subject' }] }]), {
      message: /ERROR: Malformed message: policy_update/,
    });
    await t.throwsAsync(conn.request('frobnicate', []), { message: /EUNSUPPORTED/ });
    // The session is intact: a good update lands.
    await conn.request('policy_update', [{ delete: [{ subject: 'GbpContract', uri: b }] }]);
    t.false(c.store.has(b));
    t.true(c.isReady);
  } finally {
    await c.stop();
    await leaf.stop();
  }
});

test('a leaf that stops answering echoes is dropped after the keepalive timeout, and the client reconnects', async (t) => {
  const leaf = await fakeLeaf((method, _params, port) =>
    method === 'send_identity' ? identity(port) : { policy: [] },
  );
  const c = client(leaf.port, { echoIntervalMs: 50, keepaliveTimeoutMs: 200 });
  try {
    c.start();
    await until('ready', () => c.isReady);
    // The leaf hangs: it reads nothing more, so it answers nothing.
    leaf.sockets[0]?.pause();
    await until('the second session', () => c.stats.sessions >= 2, 3000);
    t.is(leaf.connections.length, 2);
  } finally {
    await c.stop();
    await leaf.stop();
  }
});
