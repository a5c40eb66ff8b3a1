/**
 * The node plugin as a V8 startup snapshot entry (`node --build-snapshot`),
 * one of the start-up candidates bench/cni measures against the native
 * plugin: the modules are loaded and compiled into the snapshot, so a start
 * deserializes them instead. Same logic as agents/cni/main.ts.
 */
import v8 from 'node:v8';
import { callServer } from '../../agents/cni/client.ts';
import { runPlugin } from '../../agents/cni/plugin.ts';

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  if (!process.stdin.isTTY) for await (const c of process.stdin) chunks.push(c as Buffer);
  const outcome = await runPlugin(process.env, Buffer.concat(chunks).toString('utf8'), callServer);
  process.stdout.write(outcome.stdout, () => process.exit(outcome.exitCode));
}

if (v8.startupSnapshot.isBuildingSnapshot())
  v8.startupSnapshot.setDeserializeMainFunction(() => void main());
else void main();
