/**
 * The probe servers of every component: loopback unless told otherwise (a
 * host-network component on 0.0.0.0 answers on every node address), and
 * answers that name what is failing.
 */
import test from 'ava';
import { networkInterfaces } from 'node:os';
import { Registry } from 'prom-client';
import { startHealthServer as startMetricsServer } from '../kube/health.ts';
import { startHealthServer } from './probes.ts';

/** An address of this machine that is not loopback, if it has one. */
function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

async function reachable(host: string, port: number, path: string): Promise<number | undefined> {
  try {
    return (await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(2000) }))
      .status;
  } catch {
    return undefined;
  }
}

test('the node components and the controller/operator servers listen on loopback by default', async (t) => {
  const probes = await startHealthServer(0, { ready: {} });
  const metrics = await startMetricsServer(0, {
    live: () => true,
    ready: () => true,
    registry: new Registry(),
  });
  t.teardown(() => probes.close());
  t.teardown(() => metrics.close());
  const other = externalAddress();
  for (const port of [probes.port, metrics.port]) {
    t.is(await reachable('127.0.0.1', port, '/healthz'), 200);
    if (other) t.is(await reachable(other, port, '/healthz'), undefined, `not on ${other}`);
  }
});

test('readiness and liveness list each failing check, sync or async', async (t) => {
  let flows: string | undefined = 'flows not installed';
  const server = await startHealthServer(0, {
    live: { loop: () => undefined },
    ready: { config: () => undefined, flows: () => Promise.resolve(flows) },
  });
  t.teardown(() => server.close());
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
    return [res.status, await res.text()];
  };
  t.deepEqual(await get('/readyz'), [503, 'flows: flows not installed\n']);
  t.deepEqual(await get('/healthz'), [200, 'ok\n']);
  flows = undefined;
  t.deepEqual(await get('/readyz'), [200, 'ok\n']);
});

test('a check that throws reads as failing, with its error', async (t) => {
  const server = await startHealthServer(0, {
    ready: {
      ovs: () => {
        throw new Error('socket gone');
      },
    },
  });
  t.teardown(() => server.close());
  const res = await fetch(`http://127.0.0.1:${server.port}/readyz`);
  t.is(res.status, 503);
  t.regex(await res.text(), /ovs: check failed: Error: socket gone/);
});
