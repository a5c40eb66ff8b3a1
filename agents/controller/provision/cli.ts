/**
 * Entry point of the provisioning commands:
 *
 *   tsx agents/controller/provision/cli.ts migrate <acc-provision-input.yaml> [--name N] [--namespace NS]
 *   tsx agents/controller/provision/cli.ts create-user --fabric NAME --admin-secret SECRET [--kubeconfig FILE]
 *   tsx agents/controller/provision/cli.ts adopt --dry-run --fabric NAME [--kubeconfig FILE]
 *
 * docs/provisioning.md describes each.
 */
import { parseArgs } from 'node:util';
import { KubeClient } from '../../../lib/kube/client.ts';
import { adoptDryRun, createApicUser, migrateFile } from './commands.ts';

const usage = `usage:
  migrate <acc-provision-input.yaml> [--name NAME] [--namespace NS]   print the AciFabric
  create-user --fabric NAME --admin-secret SECRET [--kubeconfig FILE]  make the APIC user and the credentials Secret
  adopt --dry-run --fabric NAME [--kubeconfig FILE]                    list what the controller would change`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    fabric: { type: 'string' },
    'admin-secret': { type: 'string' },
    kubeconfig: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const kube = () =>
  values.kubeconfig ? KubeClient.fromFile(values.kubeconfig) : KubeClient.fromDefault();

function required(name: 'fabric' | 'admin-secret'): string {
  const value = values[name];
  if (!value) throw new Error(`--${name} is required\n${usage}`);
  return value;
}

async function main(): Promise<void> {
  const [command, file] = positionals;
  switch (command) {
    case 'migrate':
      if (!file) throw new Error(usage);
      process.stdout.write(
        migrateFile(file, {
          ...(values.name ? { name: values.name } : {}),
          ...(values.namespace ? { namespace: values.namespace } : {}),
        }),
      );
      return;
    case 'create-user': {
      const user = await createApicUser({
        kube: kube(),
        fabric: required('fabric'),
        adminSecret: required('admin-secret'),
      });
      process.stdout.write(
        `Created APIC user ${user.username} with certificate ${user.certificateName}; wrote Secret ${user.secret}.\n`,
      );
      return;
    }
    case 'adopt':
      if (!values['dry-run'])
        throw new Error(
          'adopt only previews (--dry-run): the controller adopts once spec.aci.adoptExisting is true',
        );
      process.stdout.write(await adoptDryRun({ kube: kube(), fabric: required('fabric') }));
      return;
    default:
      throw new Error(usage);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
