/**
 * Entry point of the aci-containers-controller container:
 *
 *   node --import tsx agents/controller/main.ts [--config FILE] [--health-address IP]
 *
 * Config: ControllerConfig (JSON/YAML) at --config (default
 * /usr/local/etc/aci-containers/controller.conf), leader-election timings
 * included. The Lease holder identity is the host (pod) name and a random
 * suffix, logged at start ("Started controller"). The API server: the
 * pod's service account, or KUBECONFIG outside a cluster. APIC credentials: the
 * mounted Secret folder named in the config. SIGTERM/SIGINT stop it
 * gracefully (the Lease is released so a standby takes over at once).
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { defaultConfigFile, loadConfig } from './config.ts';
import { ComponentName } from './context.ts';
import { startController } from './controller.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: defaultConfigFile },
    // The pod's IP (downward API) in the cluster: the kubelet probes and Prometheus scrapes it there.
    'health-address': { type: 'string' },
  },
  strict: true,
});

const config = await loadConfig(values.config);
const log = pino({ level: config.logLevel, base: { component: ComponentName } });
const controller = await startController({
  config,
  logger: log,
  ...(values['health-address'] !== undefined ? { healthHost: values['health-address'] } : {}),
});

let exiting = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (exiting) return;
    exiting = true;
    log.info({ signal }, 'Received signal, shutting down');
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    controller
      .stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        log.error({ err: String(error) }, 'Failed to stop cleanly');
        process.exit(1);
      });
  });
}
