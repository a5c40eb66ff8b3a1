/** Builds (or finds in the cache) every control-plane binary; `.ci/run` calls it before the tests. */
import { ensureBinaries } from './tools.ts';

const started = Date.now();
const binaries = await ensureBinaries((line) => console.log(line));
for (const [name, file] of Object.entries(binaries)) console.log(`${name}: ${file}`);
console.log(`Control-plane binaries ready in ${Math.round((Date.now() - started) / 1000)}s`);
