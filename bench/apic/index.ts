// APIC sync benchmark: full sync of N MOs into an empty simulator, then a
// full resync after 1% of the objects drifted, and an incremental update of
// 1% of the desired state. Each is compared with a baseline measured in the
// same run: the minimum raw POSTs that carry the same objects (one POST per
// root tree, nothing read first).
//
//   npx tsx -e "import('./bench/apic/index.ts').then(m => m.run({ smoke: true }))"
import { ApicClient } from '../../agents/controller/apic/client.ts';
import {
  indexDesired,
  ownerAnnotation,
  ownerTagKey,
  tagForKey,
} from '../../agents/controller/apic/diff.ts';
import { moAttrs, type Mo } from '../../agents/controller/apic/mo.ts';
import { ApicSync } from '../../agents/controller/apic/sync.ts';
import { generateServerPki } from '../../e2e/apic-simulator/certs.ts';
import { ApicSimulator, type StartedSimulator } from '../../e2e/apic-simulator/simulator.ts';
import { results, type Mark } from '../report.ts';

const prefix = 'kube-bench';
const tenantDn = 'uni/tn-bench';
const rulesPerPolicy = 8; // policy + subject + 8 rules = 10 MOs per root

interface Measure {
  readonly since: Mark;
  readonly ms: number;
  readonly requests: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

function desiredState(mos: number, generation: (i: number) => string): Map<string, Mo[]> {
  const out = new Map<string, Mo[]>();
  const roots = Math.max(1, Math.round(mos / (rulesPerPolicy + 2)));
  for (let r = 0; r < roots; r++) {
    const rules: Mo[] = [];
    for (let i = 0; i < rulesPerPolicy; i++) {
      const n = r * rulesPerPolicy + i;
      rules.push({
        hostprotRule: {
          attributes: {
            rn: `rule-r${i}`,
            name: `r${i}`,
            direction: 'ingress',
            protocol: 'tcp',
            toPort: String(1000 + i),
            descr: generation(n),
          },
        },
      });
    }
    out.set(`${prefix}-netpol-ns-${r}`, [
      {
        hostprotPol: {
          attributes: { dn: `${tenantDn}/pol-p${r}`, name: `p${r}` },
          children: [
            {
              hostprotSubj: {
                attributes: { rn: 'subj-ingress', name: 'ingress' },
                children: rules,
              },
            },
          ],
        },
      },
    ]);
  }
  return out;
}

/** Adds what the engine adds (annotation, tag) so the baseline carries the same objects. */
function withOwnership(key: string, mo: Mo): Mo {
  const [cls, body] = Object.entries(mo)[0] as [
    string,
    { attributes?: Record<string, string>; children?: Mo[] },
  ];
  const attributes = { ...(body.attributes ?? {}), annotation: ownerAnnotation(prefix) };
  const children = [
    ...(body.children ?? []).map((c) => withOwnership(key, c)),
    { tagAnnotation: { attributes: { key: ownerTagKey, value: tagForKey(prefix, key) } } },
  ];
  return { [cls]: { attributes, children } };
}

async function freshSimulator(
  pki: ReturnType<typeof generateServerPki>,
): Promise<{ sim: ApicSimulator; started: StartedSimulator }> {
  const sim = new ApicSimulator({ users: { admin: 'bench' }, pki });
  const started = await sim.start();
  sim.externalPost('uni', { fvTenant: { attributes: { dn: tenantDn, name: 'bench' } } });
  return { sim, started };
}

async function measure(sim: ApicSimulator, fn: () => Promise<void>): Promise<Measure> {
  sim.resetStats();
  const since = results.mark();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  return {
    since,
    ms,
    requests: sim.stats.requests,
    bytesSent: sim.stats.bytesIn,
    bytesReceived: sim.stats.bytesOut,
  };
}

/** One POST per root tree, two in flight, no reads: the least a writer could send. */
async function rawPosts(client: ApicClient, roots: Array<[string, Mo]>): Promise<void> {
  const queue = [...roots];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift())
      await client.post(item[0], item[1]);
  };
  await Promise.all([worker(), worker()]);
}

function rootsOf(desired: Map<string, Mo[]>, keys?: ReadonlySet<string>): Array<[string, Mo]> {
  const out: Array<[string, Mo]> = [];
  for (const [key, mos] of desired) {
    if (keys !== undefined && !keys.has(key)) continue;
    for (const mo of mos) out.push([moAttrs(mo).dn ?? '', withOwnership(key, mo)]);
  }
  return out;
}

/** Time, requests and bytes of one job against the raw POSTs of the same objects. */
function record(
  job: string,
  engine: Measure,
  base: Measure,
  targets: { time?: number; requests?: number } = {},
): void {
  const detail = {
    engineBytesSent: engine.bytesSent,
    baselineBytesSent: base.bytesSent,
    engineBytesReceived: engine.bytesReceived,
  };
  results.row({
    job: `${job}: time`,
    unit: 'ms',
    ours: engine.ms,
    baseline: base.ms,
    baselineName: 'raw POSTs',
    ...(targets.time !== undefined ? { target: targets.time } : {}),
    since: engine.since,
    detail,
  });
  results.row({
    job: `${job}: requests`,
    unit: 'req',
    ours: engine.requests,
    baseline: base.requests,
    baselineName: 'raw POSTs',
    ...(targets.requests !== undefined ? { target: targets.requests } : {}),
    since: engine.since,
  });
}

async function scenario(size: number, pki: ReturnType<typeof generateServerPki>): Promise<void> {
  const desired = desiredState(size, () => 'v1');
  const objects = [...indexDesired(desired, prefix).nodes.values()].filter(
    (n) => n.cls !== 'tagAnnotation',
  ).length;

  // Baseline: raw POSTs into an empty simulator.
  const b = await freshSimulator(pki);
  const baseClient = new ApicClient({
    hosts: [b.started.url],
    user: 'admin',
    password: 'bench',
    caPem: b.started.caPem,
  });
  await baseClient.login();
  const baseFull = await measure(b.sim, () => rawPosts(baseClient, rootsOf(desired)));

  // Engine: full sync into an empty simulator.
  const e = await freshSimulator(pki);
  const client = new ApicClient({
    hosts: [e.started.url],
    user: 'admin',
    password: 'bench',
    caPem: e.started.caPem,
  });
  await client.login();
  const sync = new ApicSync({ client, prefix, writesPerSecond: 10_000, writeConcurrency: 2 });
  sync.replaceDesired(desired);
  const engineFull = await measure(e.sim, async () => {
    sync.start();
    await sync.waitIdle(600_000);
  });

  // Drift: 1% of the rules changed behind the engine's back (no events), then a full resync.
  const drifted = Math.max(1, Math.round(objects / 100));
  const rules = [...indexDesired(desired, prefix).nodes.values()].filter(
    (n) => n.cls === 'hostprotRule',
  );
  const step = Math.max(1, Math.floor(rules.length / drifted));
  const touchedKeys = new Set<string>();
  for (let i = 0, n = 0; i < rules.length && n < drifted; i += step, n++) {
    const rule = rules[i];
    if (rule === undefined) continue;
    e.sim.tree.post(rule.dn, { hostprotRule: { attributes: { dn: rule.dn, descr: 'drifted' } } });
    touchedKeys.add(rule.key);
  }
  const engineResync = await measure(e.sim, async () => {
    sync.resync();
    await sync.waitIdle(600_000);
  });
  const baseResync = await measure(b.sim, () =>
    rawPosts(baseClient, rootsOf(desired, touchedKeys)),
  );

  // Incremental: 1% of the desired rules change.
  let changed = 0;
  const next = desiredState(size, (n) => (n % step === 0 && changed++ < drifted ? 'v2' : 'v1'));
  const changedKeys = new Set<string>();
  for (const [k, mos] of next)
    if (JSON.stringify(mos) !== JSON.stringify(desired.get(k))) changedKeys.add(k);
  const engineIncr = await measure(e.sim, async () => {
    for (const k of changedKeys) sync.setDesired(k, next.get(k));
    await sync.waitIdle(600_000);
  });
  const baseIncr = await measure(b.sim, () => rawPosts(baseClient, rootsOf(next, changedKeys)));

  console.log(
    `\nAPIC sync, ${objects} MOs (${desired.size} roots; each MO also carries an ownership tag)`,
  );
  // Targets of issue 13 are set at 10,000 MOs; smaller sizes print the ratio without one.
  const full = size >= 10_000;
  record(
    `full sync of ${objects} MOs`,
    engineFull,
    baseFull,
    full ? { time: 1.1, requests: 0.05 } : {},
  );
  record(
    `resync of ${objects} MOs, ${drifted} drifted`,
    engineResync,
    baseResync,
    full ? { time: 1.5 } : {},
  );
  record(`incremental, ${drifted} of ${objects} MOs changed`, engineIncr, baseIncr);

  await sync.stop();
  client.close();
  baseClient.close();
  await e.started.stop();
  await b.started.stop();
}

export async function run(opts: { smoke: boolean }): Promise<void> {
  const pki = generateServerPki();
  for (const size of opts.smoke ? [200] : [1_000, 10_000]) await scenario(size, pki);
}
