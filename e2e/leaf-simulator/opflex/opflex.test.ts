/**
 * The OpFlex path end to end in one process: the APIC simulator (HTTPS +
 * websocket), the leaf's OpFlex server reading it as an APIC client, and
 * the opflex agent's client over verified TLS. Contracts are written by
 * REST, as a network engineer (or Ansible) writes them.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { OpflexClient } from '../../../agents/opflex/opflex/client.ts';
import { endpointGroupUri } from '../../../agents/opflex/opflex/endpoints.ts';
import { ApicClient } from '../../../agents/controller/apic/client.ts';
import { encodeFrame, FrameDecoder } from '../../../lib/opflex/framing.ts';
import { parseJson, stringifyJson, type JsonValue } from '../../../lib/opflex/json.ts';
import { propertyOf, type ManagedObject } from '../../../lib/opflex/mo.ts';
import { childUri, eprL2EpUri, eprL3EpUri, platformConfigUri } from '../../../lib/opflex/uri.ts';
import { generateServerPki } from '../../apic-simulator/certs.ts';
import { ApicSimulator } from '../../apic-simulator/simulator.ts';
import { type OpflexLeafFile, startOpflexLeafFromFile } from './config.ts';
import { startOpflexLeaf, type OpflexLeaf } from './leaf-opflex.ts';
import { uris } from './mapping.ts';
import {
  OpflexDomain as domain,
  mo,
  tcpEntry as entry,
  until as untilHolds,
  webTenantTree,
} from '../../support/opflex/apic-tenant.ts';

const password = 'noir0123-secret';
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

const epgA = endpointGroupUri({ tenant: 'kube', appProfile: 'kubernetes', name: 'A' });
const classifierUri = uris.classifier('kube', 'http|tcp80');
const bdUri = uris.bridgeDomain('kube', 'bd-pods');
const rdUri = uris.routingDomain('kube', 'vrf');
const endpoint = {
  uuid: 'pod-a_c1_eth0',
  mac: '0a:58:0a:02:00:05',
  ips: ['10.2.0.5'],
  interfaceName: 'veth-a',
  epgUri: epgA,
};

/** In-process state: checked often. */
const until = (what: string, check: () => boolean, timeoutMs = 10_000): Promise<number> =>
  untilHolds(what, check, timeoutMs, 5);

// One PKI each for the leaf and the APIC per file: RSA key generation is the slow part of a start.
const pki = generateServerPki('leaf-opflex');
const apicPki = generateServerPki();

interface Env {
  apic: ApicClient;
  apicUrl: string;
  apicCa: string;
  leaf: (port?: number, peers?: string[]) => Promise<OpflexLeaf>;
  stop: () => Promise<void>;
}

async function environment(): Promise<Env> {
  const sim = new ApicSimulator({ users: { admin: password }, pki: apicPki });
  const started = await sim.start();
  const apic = new ApicClient({
    hosts: [started.url],
    user: 'admin',
    password,
    caPem: started.caPem,
  });
  await apic.post('uni/tn-kube', webTenantTree({ subnet: '10.2.0.1/16' }));
  const leaves: OpflexLeaf[] = [];
  return {
    apic,
    apicUrl: started.url,
    apicCa: started.caPem,
    leaf: async (port = 0, peers?: string[]) => {
      const leaf = await startOpflexLeaf({
        apic: { url: started.url, user: 'admin', password, caPem: started.caPem },
        port,
        tls: { certPem: pki.certPem, keyPem: pki.keyPem },
        ...(peers ? { peers } : {}),
        platform: { domain, encapType: 'vxlan', multicastGroupIP: '225.1.2.3' },
        maxMessageBytes: 64 * 1024,
        log,
      });
      leaves.push(leaf);
      return leaf;
    },
    stop: async () => {
      for (const l of leaves) await l.stop().catch(() => undefined);
      apic.close();
      await started.stop();
    },
  };
}

function client(
  port: number,
  extra: Partial<ConstructorParameters<typeof OpflexClient>[0]> = {},
): OpflexClient {
  return new OpflexClient({
    name: 'node-1',
    domain,
    peers: [{ host: '127.0.0.1', port }],
    tls: { mode: 'verify', caFile: pki.caPath },
    log,
    echoIntervalMs: 200,
    backoff: { initialMs: 50, maxMs: 400 },
    ...extra,
  });
}

const classifierPort = (c: OpflexClient): unknown => {
  const cl = c.store.get(classifierUri);
  return cl ? propertyOf(cl, 'dFromPort') : undefined;
};

test('the agent resolves PlatformConfig, its EPG and everything it references, and declares its endpoint', async (t) => {
  const env = await environment();
  const leaf = await env.leaf();
  const c = client(leaf.port);
  try {
    c.setEndpoints([endpoint]);
    c.start();
    await until('the classifier', () => classifierPort(c) === 80);
    const platform = c.store.get(platformConfigUri(domain));
    t.is(platform && propertyOf(platform, 'encapType'), 'vxlan');
    // EPG → BD → VRF, the contract, its rule's classifier: the closure of references.
    for (const uri of [epgA, bdUri, rdUri, uris.contract('kube', 'web'), classifierUri])
      t.truthy(c.store.get(uri), uri);
    t.truthy(c.store.get(childUri(epgA, 'GbpeInstContext')));
    // EPG C is nobody's on this node: not resolved.
    t.falsy(c.store.get(endpointGroupUri({ tenant: 'kube', appProfile: 'kubernetes', name: 'C' })));
    await until('the declaration', () => leaf.server.registry.size === 2);
    const l2 = leaf.server.registry.get(eprL2EpUri(bdUri, endpoint.mac));
    const l3 = leaf.server.registry.get(eprL3EpUri(rdUri, '10.2.0.5'));
    t.truthy(l2);
    t.truthy(l3);
    t.is(propertyOf(l2?.objects[0] as ManagedObject, 'group'), epgA);
    t.is(l2?.declaredBy, 'node-1');
    t.deepEqual(c.knownPeers, [`127.0.0.1:${leaf.port}`]);
    // The endpoint goes: undeclared, and its EPG's policy is unresolved and dropped.
    c.setEndpoints([]);
    await until('the undeclare', () => leaf.server.registry.size === 0);
    await until('the prune', () => !c.store.has(epgA));
    t.truthy(c.store.byClass('PlatformConfig')[0]);
  } finally {
    await c.stop();
    await env.stop();
  }
});

test('a contract changed by REST reaches the agent’s store within a second', async (t) => {
  const env = await environment();
  const leaf = await env.leaf();
  const c = client(leaf.port);
  try {
    c.setEndpoints([endpoint]);
    c.start();
    await until('the classifier', () => classifierPort(c) === 80);
    const times: number[] = [];
    for (const port of ['8080', '8081', '8082', '80']) {
      await env.apic.post('uni/tn-kube/flt-http/e-tcp80', entry('tcp80', port));
      times.push(await until(`port ${port}`, () => classifierPort(c) === Number(port), 1000));
    }
    t.log(`REST POST → client store: ${times.join(', ')} ms`);
    t.true(Math.max(...times) < 1000);
    // A new contract on the EPG (a reference the agent did not have) is resolved too.
    await env.apic.post(
      'uni/tn-kube',
      mo('fvTenant', { name: 'kube' }, [
        mo('vzFilter', { name: 'dns' }, [
          mo('vzEntry', {
            name: 'udp53',
            etherT: 'ip',
            prot: 'udp',
            dFromPort: '53',
            dToPort: '53',
          }),
        ]),
        mo('vzBrCP', { name: 'dns' }, [
          mo('vzSubj', { name: 's' }, [mo('vzRsSubjFiltAtt', { tnVzFilterName: 'dns' })]),
        ]),
        mo('fvAp', { name: 'kubernetes' }, [
          mo('fvAEPg', { name: 'A' }, [mo('fvRsCons', { tnVzBrCPName: 'dns' })]),
        ]),
      ]),
    );
    await until('the new contract', () => c.store.has(uris.classifier('kube', 'dns|udp53')), 1000);
    t.pass();
  } finally {
    await c.stop();
    await env.stop();
  }
});

test('the leaf killed and restarted: the store keeps the last policy, then the agent reconnects, re-declares and re-resolves', async (t) => {
  const env = await environment();
  const first = await env.leaf();
  const c = client(first.port);
  try {
    c.setEndpoints([endpoint]);
    c.start();
    await until('the declaration', () => first.server.registry.size === 2);
    const sizeBefore = c.store.size;
    await first.stop();
    await until('the disconnect', () => !c.isReady);
    // While the leaf is down the policy stays (the data plane keeps forwarding by it) …
    await new Promise((r) => setTimeout(r, 300));
    t.is(c.store.size, sizeBefore);
    t.is(classifierPort(c), 80);
    // … and the APIC changes meanwhile.
    await env.apic.post('uni/tn-kube/flt-http/e-tcp80', entry('tcp80', '8443'));
    const second = await env.leaf(first.port);
    await until('the re-declaration', () => second.server.registry.size === 2);
    await until('the new policy', () => classifierPort(c) === 8443);
    t.true(c.isReady);
    t.true(c.stats.sessions >= 2);
  } finally {
    await c.stop();
    await env.stop();
  }
});

test('failover: the agent moves to the next peer the leaf named', async (t) => {
  const env = await environment();
  const b = await env.leaf();
  const a = await env.leaf(0, [`127.0.0.1:${b.port}`]);
  const c = client(a.port);
  try {
    c.setEndpoints([endpoint]);
    c.start();
    await until('the declaration on A', () => a.server.registry.size === 2);
    t.deepEqual(c.knownPeers, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
    await a.stop();
    await until('the declaration on B', () => b.server.registry.size === 2);
    t.is(c.currentPeer, `127.0.0.1:${b.port}`);
    t.is(classifierPort(c), 80);
  } finally {
    await c.stop();
    await env.stop();
  }
});

test('an untrusted leaf certificate is refused and nothing is resolved', async (t) => {
  const env = await environment();
  const leaf = await env.leaf();
  const other = generateServerPki('someone-else');
  const c = client(leaf.port, { tls: { mode: 'verify', caFile: other.caPath } });
  try {
    c.setEndpoints([endpoint]);
    c.start();
    await new Promise((r) => setTimeout(r, 500));
    t.false(c.isReady);
    t.is(c.store.size, 0);
    t.is(leaf.server.agents.length, 0);
  } finally {
    await c.stop();
    await env.stop();
  }
});

/** A raw TLS session to the server: frames in, parsed frames out. */
async function rawSession(port: number): Promise<{
  socket: TLSSocket;
  send: (text: string | Buffer) => void;
  next: () => Promise<JsonValue>;
  closed: Promise<void>;
}> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: pki.caPem });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const decoder = new FrameDecoder(1 << 20);
  const queue: JsonValue[] = [];
  const waiters: ((v: JsonValue) => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      const v = parseJson(f);
      const w = waiters.shift();
      if (w) w(v);
      else queue.push(v);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  return {
    socket,
    send: (text) => socket.write(typeof text === 'string' ? encodeFrame(text) : text),
    next: () =>
      queue.length > 0
        ? Promise.resolve(queue.shift() as JsonValue)
        : new Promise((resolve) => waiters.push(resolve)),
    closed,
  };
}

const request = (n: number, method: string, params: unknown): string =>
  stringifyJson({ id: [method, 2n ** 63n + BigInt(n)], method, params });

test('hostile messages get an error (or a closed session) and disturb no other session', async (t) => {
  const env = await environment();
  const leaf = await env.leaf();
  const c = client(leaf.port);
  try {
    c.setEndpoints([endpoint]);
    c.start();
    await until('the classifier', () => classifierPort(c) === 80);
    const s = await rawSession(leaf.port);
    // Before the identity exchange: ESTATE, as libopflex answers.
    s.send(request(1, 'policy_resolve', [{ subject: 'GbpEpGroup', policy_uri: epgA, prr: 10 }]));
    t.like(await s.next(), { error: { code: 'ESTATE' } });
    s.send(
      request(2, 'send_identity', [
        { proto_version: '1.0', name: 'evil', domain, my_role: ['policy_element'] },
      ]),
    );
    const identity = (await s.next()) as {
      id: unknown[];
      result: { peers: { connectivity_info: string }[] };
    };
    // The 64-bit id comes back exactly.
    t.is(identity.id[1], 2n ** 63n + 2n);
    t.is(identity.result.peers[0]?.connectivity_info, `127.0.0.1:${leaf.port}`);
    // Bad JSON: an error with a null id (nothing else names the request); the session goes on.
    s.send('{"id": ["policy_resolve", 3], "method": ');
    t.like(await s.next(), { id: null, error: { code: 'ERROR' } });
    // An unknown class.
    s.send(
      request(4, 'policy_resolve', [
        { subject: 'NoSuchClass', policy_uri: '/PolicyUniverse/x/', prr: 10 },
      ]),
    );
    t.like(await s.next(), { error: { code: 'ERROR', message: 'Unknown subject: NoSuchClass' } });
    // A containment loop in a declaration: refused, nothing registered.
    const loopA = {
      subject: 'EprL2Ep',
      uri: '/EprL2Universe/EprL2Ep/a/',
      properties: [],
      children: ['/EprL2Universe/EprL2Ep/a/EprL3Net/b/'],
    };
    const loopB = {
      subject: 'EprL3Net',
      uri: '/EprL2Universe/EprL2Ep/a/EprL3Net/b/',
      properties: [],
      children: ['/EprL2Universe/EprL2Ep/a/'],
      parent_uri: '/EprL2Universe/EprL2Ep/a/',
      parent_subject: 'EprL2Ep',
      parent_relation: 'EprL3Net',
    };
    s.send(request(5, 'endpoint_declare', [{ endpoint: [loopA, loopB], prr: 10 }]));
    t.like(await s.next(), { error: { code: 'ERROR' } });
    t.false(leaf.server.registry.has(loopA.uri));
    // Malformed params and an unknown method.
    s.send(request(6, 'endpoint_declare', [{ prr: 'soon' }]));
    t.like(await s.next(), { error: { code: 'ERROR' } });
    s.send(request(7, 'frobnicate', []));
    t.like(await s.next(), { error: { code: 'EUNSUPPORTED' } });
    // Still a working session.
    s.send(request(8, 'echo', ['still here']));
    t.like(await s.next(), { result: ['still here'] });
    // An oversized message (the leaf's limit is 64 KiB): no boundary left, the session is closed.
    s.send(Buffer.alloc(70 * 1024, 0x20));
    await s.closed;
    t.true(leaf.server.stats.protocolErrors >= 2);
    // The agent's session never noticed: ready, and still receiving updates.
    t.true(c.isReady);
    await env.apic.post('uni/tn-kube/flt-http/e-tcp80', entry('tcp80', '8088'));
    await until('the update after the attack', () => classifierPort(c) === 8088, 1000);
    t.is(leaf.server.registry.size, 2);
  } finally {
    await c.stop();
    await env.stop();
  }
});

test('the standalone entry point: the config file names the APIC, the password comes from a file', async (t) => {
  const env = await environment();
  const dir = await mkdtemp(path.join(tmpdir(), 'opflex-leaf-'));
  const file = path.join(dir, 'opflex-leaf.json');
  await writeFile(path.join(dir, 'password'), `${password}\n`, { mode: 0o600 });
  await writeFile(path.join(dir, 'apic-ca.pem'), env.apicCa);
  const config: OpflexLeafFile = {
    apic: {
      url: env.apicUrl,
      user: 'admin',
      passwordFile: path.join(dir, 'password'),
      caFile: path.join(dir, 'apic-ca.pem'),
    },
    listen: { host: '127.0.0.1', port: 0 },
    tls: { certFile: path.join(pki.dir, 'server.pem'), keyFile: path.join(pki.dir, 'server.key') },
    peers: [],
    platform: { domain, encapType: 'vxlan' },
  };
  await writeFile(file, JSON.stringify(config));
  const leaf = await startOpflexLeafFromFile(file, log);
  const c = client(leaf.port);
  try {
    c.setEndpoints([endpoint]);
    c.start();
    await until('the classifier', () => classifierPort(c) === 80);
    t.is(leaf.server.agents[0], 'node-1');
    await writeFile(
      file,
      JSON.stringify({ ...config, apic: { ...config.apic, url: 'not a url' } }),
    );
    await t.throwsAsync(startOpflexLeafFromFile(file, log), { message: /apic\.url/ });
  } finally {
    await c.stop();
    await leaf.stop();
    await env.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('another node resolves an endpoint from the registry and is told when it goes', async (t) => {
  const env = await environment();
  const leaf = await env.leaf();
  const n1 = client(leaf.port);
  const n2 = client(leaf.port, { name: 'node-2' });
  const remote = eprL3EpUri(rdUri, '10.2.0.5');
  try {
    n1.setEndpoints([endpoint]);
    n1.start();
    n2.start();
    await until('the declaration', () => leaf.server.registry.has(remote));
    n2.setRemoteEndpoints([{ subject: 'EprL3Ep', uri: remote }]);
    await until('the remote endpoint', () => n2.store.has(remote));
    t.is(propertyOf(n2.store.get(remote) as ManagedObject, 'group'), epgA);
    // Node 1's endpoint goes: node 2 gets an endpoint_update deleting it.
    n1.setEndpoints([]);
    await until('the remote deletion', () => !n2.store.has(remote));
    // And it comes back: resolved again by push, not by asking.
    n1.setEndpoints([endpoint]);
    await until('the remote endpoint again', () => n2.store.has(remote));
    t.pass();
  } finally {
    await n1.stop();
    await n2.stop();
    await env.stop();
  }
});
