/**
 * Installs the CNI plugin and the network configuration on the node, as the
 * original's init step does: the DaemonSet's init container runs
 * `aci-containers cni-install --config=...`, and the host agent repeats it
 * at start (so a node whose /etc/cni/net.d was wiped heals on restart).
 *
 * What lands on the node:
 *   <cniBinDir>/aci-containers-cni          a wrapper that runs the plugin
 *   <cniConfDir>/10-aci-containers.conflist the network configuration
 *
 * The plugin is TypeScript run by node; the wrapper names node, the tsx
 * loader and the plugin by absolute path, so the copy works from any CNI
 * folder (the checked-in wrapper finds its files relative to itself and
 * breaks when copied). Files are replaced atomically and only when their
 * content changes, so a runtime never sees a half-written conflist.
 */
import { chmod, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parse } from 'yaml';
import { HostAgentConfig, nodeDirs, paths } from '../../lib/config/components.ts';

export const PluginName = 'aci-containers-cni';
export const ConflistName = '10-aci-containers.conflist';
export const NetworkName = 'aci-containers';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface PluginLocation {
  readonly node: string;
  readonly loader: string;
  readonly main: string;
}

/** This installation's plugin: the running node, the tsx loader and agents/cni/main.ts of this tree. */
export const thisPlugin: PluginLocation = {
  node: process.execPath,
  loader: join(repoRoot, 'node_modules/tsx/dist/loader.mjs'),
  main: join(repoRoot, 'agents/cni/main.ts'),
};

/**
 * The conflist is read on the node, so the socket path in it must be the
 * node's path, not the container's: the DaemonSet mounts each node
 * directory at its container path (nodeDirs).
 */
const containerMounts: readonly (readonly [container: string, host: string])[] = Object.values(
  nodeDirs,
).map(({ container, host }) => [`${container}/`, `${host}/`]);

export function hostPathOf(containerPath: string): string {
  for (const [container, host] of containerMounts) {
    if (containerPath.startsWith(container)) return host + containerPath.slice(container.length);
  }
  return containerPath;
}

/**
 * In the image the plugin is one bundled .mjs file (scripts/bundle.ts) and
 * node lives only inside the container, so both are copied next to the
 * wrapper, which then runs them relative to itself on the node.
 */
export interface BundledPlugin {
  readonly bundle: string;
  readonly node: string;
  /**
   * The native plugin (agents/cni/native), when the image has it: installed
   * as the plugin itself instead of the wrapper, with node and the bundle
   * beside it as its fallback. It starts in milliseconds where node takes
   * a tenth of a second or more (docs/performance.md).
   */
  readonly native?: string;
}

/** The image sets ACI_CNI_BUNDLE to its bundled plugin; elsewhere the TypeScript plugin of this tree is used. */
export function bundledPlugin(env: NodeJS.ProcessEnv = process.env): BundledPlugin | undefined {
  return env.ACI_CNI_BUNDLE
    ? {
        bundle: env.ACI_CNI_BUNDLE,
        node: process.execPath,
        ...(env.ACI_CNI_NATIVE ? { native: env.ACI_CNI_NATIVE } : {}),
      }
    : undefined;
}

export const BundleName = `${PluginName}.mjs`;
export const NodeName = 'aci-containers-node';

/** Pure: the wrapper of a bundled installation, resolving its files next to itself. */
export function bundledWrapper(): string {
  return [
    '#!/bin/sh',
    '# Installed by aci-containers cni-install; replaced at every host agent start.',
    'here=$(dirname "$(readlink -f "$0")")',
    `exec "$here/${NodeName}" "$here/${BundleName}" "$@"`,
    '',
  ].join('\n');
}

/** Copies a file atomically unless the target has the same size and content. */
async function copyIfChanged(from: string, to: string, mode: number): Promise<boolean> {
  const [source, target] = await Promise.all([readFile(from), readFile(to).catch(() => undefined)]);
  if (target && target.equals(source)) return false;
  const tmp = join(dirname(to), `.${basename(to)}.${randomBytes(4).toString('hex')}.tmp`);
  await copyFile(from, tmp);
  await chmod(tmp, mode);
  await rename(tmp, to);
  return true;
}

export interface CniInstallOptions {
  readonly binDir: string;
  readonly confDir: string;
  /** The CNI server socket as the node (the runtime) sees it. */
  readonly serverSocket: string;
  readonly mtu?: number;
  readonly plugin?: PluginLocation;
  /** Install the bundled plugin (the image) instead of the TypeScript one. */
  readonly bundled?: BundledPlugin;
}

/** Pure: the conflist (docs/cni.md, "Network configuration"). */
export function conflist(
  opts: Pick<CniInstallOptions, 'serverSocket' | 'mtu'>,
): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: NetworkName,
    plugins: [
      { type: PluginName, serverSocket: opts.serverSocket, ...(opts.mtu ? { mtu: opts.mtu } : {}) },
    ],
  };
}

const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/** Pure: the wrapper script put into the CNI bin folder. */
export function pluginWrapper(plugin: PluginLocation): string {
  return [
    '#!/bin/sh',
    '# Installed by aci-containers cni-install; replaced at every host agent start.',
    `exec ${shellQuote(plugin.node)} --import ${shellQuote(pathToFileURL(plugin.loader).href)} ${shellQuote(plugin.main)} "$@"`,
    '',
  ].join('\n');
}

/** Writes path atomically with mode, unless it already has exactly this content. Returns whether it wrote. */
async function replaceIfChanged(path: string, content: string, mode: number): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === content) {
    await chmod(path, mode);
    return false;
  }
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, content, { mode });
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return true;
}

export interface CniInstallReport {
  readonly plugin: string;
  readonly conflist: string;
  /** Files whose content changed. */
  readonly written: string[];
}

export async function installCni(opts: CniInstallOptions): Promise<CniInstallReport> {
  const pluginPath = join(opts.binDir, PluginName);
  const conflistPath = join(opts.confDir, ConflistName);
  const written: string[] = [];
  if (opts.bundled) {
    await mkdir(opts.binDir, { recursive: true });
    await stat(opts.bundled.bundle);
    for (const [from, name, mode] of [
      [opts.bundled.node, NodeName, 0o755],
      [opts.bundled.bundle, BundleName, 0o644],
    ] as const) {
      if (await copyIfChanged(from, join(opts.binDir, name), mode))
        written.push(join(opts.binDir, name));
    }
  }
  if (opts.bundled?.native) {
    if (await copyIfChanged(opts.bundled.native, pluginPath, 0o755)) written.push(pluginPath);
  } else {
    const wrapper = opts.bundled ? bundledWrapper() : pluginWrapper(opts.plugin ?? thisPlugin);
    if (await replaceIfChanged(pluginPath, wrapper, 0o755)) written.push(pluginPath);
  }
  const text = `${JSON.stringify(conflist(opts), null, 2)}\n`;
  if (await replaceIfChanged(conflistPath, text, 0o644)) written.push(conflistPath);
  return { plugin: pluginPath, conflist: conflistPath, written };
}

export async function readHostAgentConfig(file: string): Promise<HostAgentConfig> {
  // The operator renders JSON; YAML is its superset, so hand-written files work too.
  return HostAgentConfig.parse(parse(await readFile(file, 'utf8')));
}

export const DefaultConfigFile = `${paths.configDir}/host-agent.conf`;

/** `aci-containers cni-install [--config FILE] [--host-cni-socket PATH]` */
export async function main(args: string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', default: DefaultConfigFile },
      'host-cni-socket': { type: 'string' },
    },
  });
  const config = await readHostAgentConfig(values.config);
  const report = await installCni({
    binDir: config.cniBinDir,
    confDir: config.cniConfDir,
    serverSocket: values['host-cni-socket'] ?? hostPathOf(config.cniSocket),
    mtu: config.mtu,
    ...(bundledPlugin() ? { bundled: bundledPlugin() } : {}),
  });
  pino({ level: config.logLevel }).info(report, 'Installed CNI plugin');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
