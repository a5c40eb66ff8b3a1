/**
 * /healthz (the process serves) and /readyz (every named check passes) on
 * one HTTP port, for the DaemonSet's liveness and readiness probes. The
 * readiness answer lists the failing checks, so `kubectl describe pod`
 * says why a node's agent is not ready.
 */
import { createServer, type Server } from 'node:http';

export type ReadinessCheck = () => string | undefined;

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(
  port: number,
  checks: Readonly<Record<string, ReadinessCheck>>,
  host = '0.0.0.0',
): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/livez') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const failing = Object.entries(checks)
        .map(([name, check]) => [name, check()] as const)
        .filter(([, problem]) => problem !== undefined);
      const body =
        failing.length === 0
          ? 'ok\n'
          : failing.map(([name, p]) => `${name}: ${p}`).join('\n') + '\n';
      res.writeHead(failing.length === 0 ? 200 : 503, { 'Content-Type': 'text/plain' }).end(body);
      return;
    }
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
