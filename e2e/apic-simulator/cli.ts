// Runs the APIC simulator standalone:
//   npx tsx e2e/apic-simulator/cli.ts [--host 127.0.0.1] [--port 8443] [--user admin --password noir0123]
// Prints the URL and the path of the CA certificate to trust, then serves
// until interrupted.
import { parseArgs } from 'node:util';
import { ApicSimulator, caFingerprint } from './simulator.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    // The address to listen on (and to name in the certificate); real nodes reach the host's bridge address.
    host: { type: 'string', default: '127.0.0.1' },
    user: { type: 'string', default: 'admin' },
    password: { type: 'string', default: 'noir0123' },
  },
});

const sim = new ApicSimulator({ users: { [values.user]: values.password } });
const started = await sim.start({ port: Number(values.port), host: values.host });
process.stdout.write(
  `APIC simulator listening on ${started.url}\nCA certificate: ${started.caPath}\nCA SHA-256: ${caFingerprint(started.caPem)}\nUser: ${values.user}\n`,
);
const shutdown = () => {
  void started.stop().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
