import test from 'ava';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { ApicSimulator, type StartedSimulator } from '../../../e2e/apic-simulator/simulator.ts';
import { generateServerPki, generateUserCert } from '../../../e2e/apic-simulator/certs.ts';
import { ApicClient, ApicConnectionError, ApicRequestError, ApicTlsError } from './client.ts';
import { ApicSubscriptions } from './subscriptions.ts';
import type { Mo } from './mo.ts';

const password = 'noir0123-secret';

function captureLogger(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino<never>({ level: 'debug' }, stream), text: () => lines.join('') };
}

// One PKI for the file: RSA key generation is the slow part of starting a simulator.
let sharedPki: ReturnType<typeof generateServerPki> | undefined;
const pki = () => (sharedPki ??= generateServerPki());

async function withSim<T>(
  fn: (sim: ApicSimulator, s: StartedSimulator) => Promise<T>,
  opts = {},
): Promise<T> {
  const sim = new ApicSimulator({ users: { admin: password }, pki: pki(), ...opts });
  const s = await sim.start();
  try {
    return await fn(sim, s);
  } finally {
    await s.stop();
  }
}

const tenant = (name: string): Mo => ({ fvTenant: { attributes: { dn: `uni/tn-${name}`, name } } });

test('password login, create, class query; the password never reaches the log', async (t) => {
  await withSim(async (_sim, s) => {
    const log = captureLogger();
    const c = new ApicClient({
      hosts: [s.url],
      user: 'admin',
      password,
      caPem: s.caPem,
      logger: log.logger,
    });
    await c.post('uni/tn-a', tenant('a'));
    const r = await c.getClass('fvTenant', { 'query-target-filter': 'eq(fvTenant.name,"a")' });
    t.is(r.totalCount, '1');
    t.is(r.imdata[0]?.fvTenant?.attributes?.dn, 'uni/tn-a');
    t.regex(log.text(), /Logged in to APIC/);
    t.false(log.text().includes(password));
    c.close();
  });
});

test('certificate signature login; a wrong key is refused with 403', async (t) => {
  await withSim(async (sim, s) => {
    const good = generateUserCert('kube-ctrl');
    const other = generateUserCert('kube-ctrl');
    sim.registerCertificate('kube-ctrl', 'kube-ctrl.crt', good.certPem);
    const log = captureLogger();
    const c = new ApicClient({
      hosts: [s.url],
      user: 'kube-ctrl',
      certName: 'kube-ctrl.crt',
      privateKeyPem: good.keyPem,
      caPem: s.caPem,
      logger: log.logger,
    });
    await c.post('uni/tn-signed', tenant('signed'));
    t.is((await c.getMo('uni/tn-signed')).totalCount, '1');
    await c.login();
    t.truthy(c.websocketToken, 'webtokenSession gave a websocket token');
    t.false(log.text().includes('PRIVATE KEY'));
    const bad = new ApicClient({
      hosts: [s.url],
      user: 'kube-ctrl',
      certName: 'kube-ctrl.crt',
      privateKeyPem: other.keyPem,
      caPem: s.caPem,
    });
    const err = await t.throwsAsync(bad.getMo('uni'), { instanceOf: ApicRequestError });
    t.is(err?.status, 403);
    c.close();
    bad.close();
  });
});

test('wrong password is a 401 and is not retried', async (t) => {
  await withSim(async (sim, s) => {
    const c = new ApicClient({ hosts: [s.url], user: 'admin', password: 'wrong', caPem: s.caPem });
    const err = await t.throwsAsync(c.getMo('uni'), { instanceOf: ApicRequestError });
    t.is(err?.status, 401);
    t.is(sim.stats.requests, 1);
    c.close();
  });
});

test('fails over to the next APIC when one is stopped', async (t) => {
  const a = new ApicSimulator({ users: { admin: password }, pki: pki() });
  const b = new ApicSimulator({ users: { admin: password }, pki: pki() });
  const sa = await a.start();
  const sb = await b.start();
  const c = new ApicClient({
    hosts: [sa.url, sb.url],
    user: 'admin',
    password,
    caPem: pki().caPem,
    backoff: { initialMs: 10, maxMs: 50 },
  });
  await c.post('uni/tn-x', tenant('x'));
  t.truthy(a.tree.get('uni/tn-x'));
  await sa.stop();
  await c.post('uni/tn-y', tenant('y'));
  t.truthy(b.tree.get('uni/tn-y'), 'the write went to the second APIC');
  t.is(c.currentHost, sb.url);
  await sb.stop();
  await t.throwsAsync(c.getMo('uni'), { instanceOf: ApicConnectionError });
  c.close();
});

test('TLS verification against the wrong CA is reported as such', async (t) => {
  await withSim(async (_sim, s) => {
    const otherCa = generateServerPki('someone-else');
    const c = new ApicClient({
      hosts: [s.url],
      user: 'admin',
      password,
      caPem: otherCa.caPem,
      maxRetries: 0,
    });
    const err = await t.throwsAsync(c.getMo('uni'), { instanceOf: ApicTlsError });
    t.regex(
      err?.message ?? '',
      /TLS verification of APIC .* failed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED/,
    );
    c.close();
  });
});

test('insecureSkipTlsVerify is an explicit opt-in that logs a warning', async (t) => {
  await withSim(async (_sim, s) => {
    const log = captureLogger();
    const c = new ApicClient({
      hosts: [s.url],
      user: 'admin',
      password,
      insecureSkipTlsVerify: true,
      logger: log.logger,
    });
    t.is((await c.getMo('uni')).totalCount, '1');
    t.regex(log.text(), /"level":40.*TLS verification of the APIC is disabled/);
    c.close();
  });
});

test('503 and 429 bursts are retried; a 400 is not', async (t) => {
  await withSim(async (sim, s) => {
    const c = new ApicClient({
      hosts: [s.url],
      user: 'admin',
      password,
      caPem: s.caPem,
      backoff: { initialMs: 5, maxMs: 20 },
    });
    await c.login();
    await sim.inject({ fail503: 3 });
    await c.post('uni/tn-r', tenant('r'));
    t.truthy(sim.tree.get('uni/tn-r'));
    await sim.inject({ fail429: 2 });
    t.is((await c.getMo('uni/tn-r')).totalCount, '1');
    t.is(c.counters.retries, 5);
    sim.resetStats();
    const err = await t.throwsAsync(
      c.post('uni/tn-r', { fvTenant: { attributes: { dn: 'uni/tn-other' } } }),
      { instanceOf: ApicRequestError },
    );
    t.is(err?.status, 400);
    t.is(sim.stats.requests, 1, 'no retry of a 4xx');
    await sim.inject({ fail503: 100 });
    const c2 = new ApicClient({
      hosts: [s.url],
      user: 'admin',
      password,
      caPem: s.caPem,
      backoff: { initialMs: 1, maxMs: 2 },
      maxRetries: 2,
    });
    const busy = await t.throwsAsync(c2.getMo('uni'), { instanceOf: ApicRequestError });
    t.is(busy?.status, 503, 'gives up after maxRetries with the last answer');
    c.close();
    c2.close();
  });
});

test('an expiring token is refreshed with aaaRefresh before it runs out', async (t) => {
  await withSim(
    async (sim, s) => {
      const c = new ApicClient({ hosts: [s.url], user: 'admin', password, caPem: s.caPem });
      await c.login();
      const first = c.websocketToken;
      sim.resetStats();
      await new Promise((r) => setTimeout(r, 2500));
      t.is((await c.getMo('uni')).totalCount, '1');
      t.is(c.websocketToken, first, 'refresh kept the session');
      t.is(sim.stats.posts, 0, 'no new aaaLogin was needed');
      t.true(sim.stats.gets >= 2, 'aaaRefresh was called');
      c.close();
    },
    { tokenTimeoutSeconds: 2 },
  );
});

test('a subscription is notified of changes made by anyone, and resyncs after a dropped socket', async (t) => {
  await withSim(async (sim, s) => {
    const c = new ApicClient({
      hosts: [s.url],
      user: 'admin',
      password,
      caPem: s.caPem,
      backoff: { initialMs: 10, maxMs: 50 },
    });
    const subs = new ApicSubscriptions(c, {
      refreshTimeoutSeconds: 2,
      backoff: { initialMs: 10, maxMs: 50 },
    });
    await subs.start();
    const events: Mo[] = [];
    const { imdata } = await subs.subscribe(
      {
        kind: 'class',
        target: 'fvTenant',
        query: { 'query-target-filter': 'wcard(fvTenant.name,"^k")' },
      },
      (mo) => events.push(mo),
    );
    t.deepEqual(imdata, []);
    const other = new ApicClient({ hosts: [s.url], user: 'admin', password, caPem: s.caPem });
    await other.post('uni/tn-k1', tenant('k1'));
    await other.post('uni/tn-zz', tenant('zz'));
    sim.externalPost('uni/tn-k1', {
      fvTenant: { attributes: { dn: 'uni/tn-k1', descr: 'changed' } },
    });
    await other.delete('uni/tn-k1');
    while (events.length < 3) await new Promise((r) => setTimeout(r, 10));
    t.deepEqual(
      events.map((e) => [e.fvTenant?.attributes?.dn, e.fvTenant?.attributes?.status]),
      [
        ['uni/tn-k1', 'created'],
        ['uni/tn-k1', 'modified'],
        ['uni/tn-k1', 'deleted'],
      ],
    );
    // Survives past the refresh timeout because it is refreshed.
    await new Promise((r) => setTimeout(r, 2500));
    await other.post('uni/tn-k2', tenant('k2'));
    while (events.length < 4) await new Promise((r) => setTimeout(r, 10));
    t.is(events[3]?.fvTenant?.attributes?.dn, 'uni/tn-k2');
    const resync = once(subs, 'resync');
    await sim.inject({ dropWebsockets: true });
    const [results] = (await resync) as [Map<unknown, Mo[]>];
    t.deepEqual(
      [...results.values()][0]?.map((m) => m.fvTenant?.attributes?.dn),
      ['uni/tn-k2'],
    );
    await other.post('uni/tn-k3', tenant('k3'));
    while (events.length < 5) await new Promise((r) => setTimeout(r, 10));
    t.is(events[4]?.fvTenant?.attributes?.dn, 'uni/tn-k3', 'events flow on the new socket');
    await subs.stop();
    c.close();
    other.close();
  });
});
