/**
 * /healthz (the process is alive and its loops run), /readyz (caches synced;
 * a standby is ready too, so a rolling update proceeds) and /metrics, for
 * the operator and the controller.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthChecks {
  live: () => boolean;
  ready: () => boolean;
  registry: Registry;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(
  port: number,
  checks: HealthChecks,
  /** Loopback unless the caller names an address: the probes and the scrape say where (docs/operator.md). */
  host = '127.0.0.1',
): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const answer = (ok: boolean) => {
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'not ok\n');
    };
    if (url === '/healthz' || url === '/livez') return answer(checks.live());
    if (url === '/readyz') return answer(checks.ready());
    if (url === '/metrics') {
      checks.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'Content-Type': checks.registry.contentType });
          res.end(text);
        })
        .catch((error: unknown) => {
          res.writeHead(500);
          res.end(String(error));
        });
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
