/**
 * The one entry point of the image: `aci-containers <component> [flags]`.
 * Each component's main module is imported only when asked for, so a
 * component whose main does not exist yet (or fails to load) breaks only
 * itself. A main module either runs on import (reading process.argv, which
 * is rewritten to drop the component name) or exports `main(args)`.
 */
import { pathToFileURL } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Component name -> main module, relative to the repository root. */
export const components = {
  controller: 'agents/controller/main.ts',
  'host-agent': 'agents/host/main.ts',
  'opflex-agent': 'agents/opflex/main.ts',
  'mcast-daemon': 'agents/mcast/main.ts',
  openvswitch: 'agents/openvswitch/main.ts',
  'cni-install': 'agents/host/cni-install.ts',
  operator: 'operator/main.ts',
} as const;

export type Component = keyof typeof components;

export const isComponent = (name: string | undefined): name is Component =>
  name !== undefined && Object.hasOwn(components, name);

export const usage = `usage: aci-containers <component> [flags]\ncomponents: ${Object.keys(components).join(', ')}\n`;

interface MainModule {
  main?: (args: string[]) => Promise<void> | void;
}

export async function run(argv: string[]): Promise<number> {
  const [component, ...args] = argv;
  if (component === '--help' || component === '-h' || component === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  if (!isComponent(component)) {
    process.stderr.write(`unknown component ${JSON.stringify(component ?? '')}\n${usage}`);
    return 2;
  }
  // The component parses process.argv itself, as when started directly.
  process.argv.splice(2, process.argv.length - 2, ...args);
  const url = pathToFileURL(join(root, components[component])).href;
  let module: MainModule;
  try {
    module = (await import(url)) as MainModule;
  } catch (err) {
    const missing =
      (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' &&
      String(err).includes(components[component]);
    process.stderr.write(
      missing
        ? `component ${component} is not available in this build (${components[component]} is missing)\n`
        : `${String((err as Error).stack ?? err)}\n`,
    );
    return 1;
  }
  if (typeof module.main === 'function') await module.main(args);
  return -1; // The component runs (servers, timers) and exits on its own.
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const code = await run(process.argv.slice(2));
  if (code >= 0) process.exit(code);
}
