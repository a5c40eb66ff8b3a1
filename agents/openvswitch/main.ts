/**
 * aci-containers-openvswitch entry point.
 *
 *   tsx agents/openvswitch/main.ts run    --dir /var/run/aci-ovs --bridge br-int [--netns NAME]
 *   tsx agents/openvswitch/main.ts health --dir /var/run/aci-ovs --bridge br-int
 *
 * `run` supervises ovsdb-server and ovs-vswitchd until SIGTERM. `health` is
 * the liveness probe: prints a JSON report, exits 0 when healthy, 1 if not.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { OvsSupervisor, checkHealth } from './supervisor.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string', default: '/var/run/aci-containers-ovs' },
    bridge: { type: 'string', multiple: true },
    netns: { type: 'string' },
  },
});
const bridges = values.bridge ?? ['br-int'];
const log = pino({ level: process.env.LOG_LEVEL ?? 'info' });

if (positionals[0] === 'health') {
  const report = await checkHealth(values.dir, bridges);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(report.ok ? 0 : 1);
} else if (positionals[0] === 'run') {
  const sup = new OvsSupervisor({ dir: values.dir, bridges, log, netns: values.netns });
  await sup.start();
  const shutdown = (): void => {
    void sup.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
} else {
  process.stderr.write('usage: main.ts run|health --dir DIR --bridge NAME [--netns NS]\n');
  process.exit(2);
}
