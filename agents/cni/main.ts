/**
 * The CNI plugin executable (`aci-containers-cni`). The runtime starts it
 * per pod, so it imports nothing but node built-ins and zod: no logger, no
 * Kubernetes client.
 */
import { callServer } from './client.ts';
import { runPlugin } from './plugin.ts';

async function readStdin(): Promise<string> {
  // VERSION may come without stdin; a TTY means nobody piped a config.
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * VERSION's answer does not depend on its input, and some runtimes leave
 * stdin open for it: never let a missing EOF hang the runtime.
 */
function readStdinWithin(ms: number): Promise<string> {
  return Promise.race([
    readStdin(),
    new Promise<string>((resolve) => setTimeout(() => resolve(''), ms).unref()),
  ]);
}

const stdin =
  process.env.CNI_COMMAND === 'VERSION' ? await readStdinWithin(1000) : await readStdin();
const outcome = await runPlugin(process.env, stdin, callServer);
process.stdout.write(outcome.stdout, () => process.exit(outcome.exitCode));
