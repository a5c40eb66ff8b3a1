/**
 * Builds the native CNI plugin (forward.c) with the system C compiler:
 * static, so it runs on any node whatever its libc. The image's build stage
 * and the benchmarks call this; the node plugin bundle (scripts/bundle.ts)
 * must sit next to the result as aci-containers-cni.mjs, with node as
 * aci-containers-node, for its fallback (cni-install lays them out so).
 *
 *   npx tsx agents/cni/native/build.ts OUTFILE
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { SupportedVersions } from '../../host/cniserver/protocol.ts';
import { PluginVersion } from '../plugin.ts';

const execFileP = promisify(execFile);

export const NativePluginSource = join(dirname(fileURLToPath(import.meta.url)), 'forward.c');
/** What the fallback looks for next to the native plugin. */
export const FallbackNodeName = 'aci-containers-node';
export const FallbackBundleName = 'aci-containers-cni.mjs';

/** The node plugin's VERSION output (plugin.ts), without the newline. */
export function versionAnswer(): string {
  return JSON.stringify({ cniVersion: PluginVersion, supportedVersions: SupportedVersions });
}

export async function buildNativePlugin(
  outFile: string,
  cc = process.env.CC ?? 'cc',
): Promise<void> {
  try {
    await execFileP(cc, [
      '-O2',
      '-std=c11',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-static',
      // VERSION is answered without the server; its text comes from the node plugin's constants.
      `-DCNI_VERSION_ANSWER=${JSON.stringify(versionAnswer())}`,
      '-o',
      outFile,
      NativePluginSource,
    ]);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(
      `building the native CNI plugin failed (needs a C compiler and static libc: Debian gcc, libc6-dev): ${stderr || String(error)}`,
      { cause: error },
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = process.argv[2];
  if (!out) throw new Error('usage: npx tsx agents/cni/native/build.ts OUTFILE');
  await buildNativePlugin(out);
}
