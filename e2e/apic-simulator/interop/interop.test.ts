// Interop: acitoolkit (PyPI, not written by us) logs in to the simulator,
// creates a tenant tree and reads it back with class and MO queries.
// The venv lives outside the repo; setup-venv.sh creates it on first use.
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';
import { ApicSimulator } from '../simulator.ts';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));

const Result = z.object({
  login: z.literal(true),
  tenants: z.array(z.string()),
  epgs: z.array(z.string()),
  rsbd: z.array(z.string()),
});

test('acitoolkit logs in, creates a tenant tree and queries it', async (t) => {
  const { stdout: python } = await run('bash', [`${here}setup-venv.sh`], { timeout: 600_000 });
  const sim = new ApicSimulator({ users: { admin: 'interop-pw' } });
  const s = await sim.start();
  try {
    const { stdout } = await run(
      python.trim(),
      [`${here}acitoolkit_interop.py`, s.url, 'admin', 'interop-pw', s.caPath],
      { timeout: 120_000 },
    );
    const result = Result.parse(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
    t.true(result.tenants.includes('interop-tn'));
    t.deepEqual(result.epgs, ['uni/tn-interop-tn/ap-interop-app/epg-interop-epg']);
    t.deepEqual(result.rsbd, ['interop-bd']);
    t.is(sim.tree.get('uni/tn-interop-tn/BD-interop-bd/rsctx')?.attrs.tnFvCtxName, 'interop-vrf');
    t.is(sim.stats.posts >= 2, true, 'aaaLogin and the tenant POST reached the simulator');
  } finally {
    await s.stop();
  }
});

test('acitoolkit with a wrong password gets the APIC login error', async (t) => {
  const { stdout: python } = await run('bash', [`${here}setup-venv.sh`], { timeout: 600_000 });
  const sim = new ApicSimulator({ users: { admin: 'interop-pw' } });
  const s = await sim.start();
  try {
    const err = await t.throwsAsync(
      run(python.trim(), [`${here}acitoolkit_interop.py`, s.url, 'admin', 'wrong', s.caPath], {
        timeout: 120_000,
      }),
    );
    const out = (err as unknown as { stdout?: string }).stdout ?? '';
    t.regex(out, /"step": "login", "status": 401/);
  } finally {
    await s.stop();
  }
});
