/**
 * /healthz (every liveness check passes) and /readyz (every readiness check
 * passes) on one HTTP port, for the node components' liveness and readiness
 * probes: host agent, opflex agent, mcast daemon. Each answer lists the
 * failing checks, so `kubectl describe pod` says why a node's agent is not
 * ready or was restarted.
 *
 * Bound to the node's loopback by default: these components run in the
 * node's network namespace, the kubelet probes them there (httpGet host
 * 127.0.0.1), and nothing else needs to reach them.
 */
import { createServer, type Server } from 'node:http';

/** undefined: passing; a string: what is wrong. A check may ask something (OVS) and answer later. */
export type ProbeCheck = () => string | undefined | Promise<string | undefined>;

export interface ProbeChecks {
  readonly live?: Readonly<Record<string, ProbeCheck>>;
  readonly ready: Readonly<Record<string, ProbeCheck>>;
}

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

async function failing(
  checks: Readonly<Record<string, ProbeCheck>> | undefined,
): Promise<string[]> {
  const answers = await Promise.all(
    Object.entries(checks ?? {}).map(async ([name, check]) => {
      try {
        return [name, await check()] as const;
      } catch (err) {
        return [name, `check failed: ${String(err)}`] as const;
      }
    }),
  );
  return answers
    .filter((entry): entry is readonly [string, string] => entry[1] !== undefined)
    .map(([name, problem]) => `${name}: ${problem}`);
}

export async function startHealthServer(
  port: number,
  { live, ready }: ProbeChecks,
  host = '127.0.0.1',
): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (problems: string[]): void => {
      res
        .writeHead(problems.length === 0 ? 200 : 503, { 'Content-Type': 'text/plain' })
        .end(problems.length === 0 ? 'ok\n' : problems.join('\n') + '\n');
    };
    if (path === '/healthz' || path === '/livez') return void failing(live).then(answer);
    if (path === '/readyz') return void failing(ready).then(answer);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
