/**
 * Entry point of the aci-containers-controller container:
 *
 *   node --import tsx agents/controller/main.ts [--config FILE] [--health-port N] [--kubeconfig FILE]
 *
 * Config: ControllerConfig (JSON/YAML) at --config (default
 * /usr/local/etc/aci-containers/controller.conf). APIC credentials: the
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
    'health-port': { type: 'string' },
    kubeconfig: { type: 'string' },
    // Tests only: shorter leases make failover tests quick.
    'lease-duration-seconds': { type: 'string' },
    'node-selector': { type: 'string' },
    'namespace-selector': { type: 'string' },
    identity: { type: 'string' },
  },
  strict: true,
});

const config = await loadConfig(values.config);
const log = pino({ level: config.logLevel, base: { component: ComponentName } });
const leaseSeconds = values['lease-duration-seconds']
  ? Number(values['lease-duration-seconds'])
  : undefined;
const controller = await startController({
  config,
  logger: log,
  ...(values.identity ? { identity: values.identity } : {}),
  ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
  ...(values['health-port'] !== undefined ? { healthPort: Number(values['health-port']) } : {}),
  ...(leaseSeconds
    ? {
        leaderElection: {
          leaseDurationSeconds: leaseSeconds,
          renewDeadlineMs: (leaseSeconds * 1000 * 2) / 3,
          retryPeriodMs: (leaseSeconds * 1000) / 5,
        },
      }
    : {}),
  scope: {
    ...(values['node-selector'] ? { nodeLabelSelector: values['node-selector'] } : {}),
    ...(values['namespace-selector']
      ? { namespaceLabelSelector: values['namespace-selector'] }
      : {}),
  },
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
