// Properties of the sync engine against the APIC simulator:
//   after sync, the tree holds exactly the desired objects as owned objects,
//   foreign objects are untouched, a second sync writes nothing, tampering is
//   repaired, and faults (503 bursts, dropped sockets, restarts) still
//   converge. Run counts are small: each run starts an engine against HTTPS.
import test from 'ava';
import fc from 'fast-check';
import { ApicSimulator, type StartedSimulator } from '../../../e2e/apic-simulator/simulator.ts';
import { generateServerPki } from '../../../e2e/apic-simulator/certs.ts';
import { ApicClient } from './client.ts';
import { indexDesired, isOwned, type ActualObject } from './diff.ts';
import { ApicSync } from './sync.ts';
import type { Mo } from './mo.ts';

const prefix = 'kube-prop';
const password = 'pw';
const tenantDn = 'uni/tn-kube';
const baseKey = `${prefix}-base`;

// ---- generators -------------------------------------------------------------

const word = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/);
const ruleArb = fc.record({
  name: word,
  direction: fc.constantFrom('ingress', 'egress'),
  protocol: fc.constantFrom('tcp', 'udp', '6', 'unspecified'),
  toPort: fc.constantFrom('unspecified', '80', '8080'),
});
const subjArb = fc.record({
  name: word,
  rules: fc.uniqueArray(ruleArb, { selector: (r) => r.name, maxLength: 2 }),
});
const polArb = fc.record({
  descr: word,
  subjs: fc.uniqueArray(subjArb, { selector: (s) => s.name, maxLength: 2 }),
});
/** Desired state: up to 4 keys, each with up to 2 policies in the cluster tenant. */
const desiredArb = fc.dictionary(
  fc.constantFrom('netpol-a', 'netpol-b', 'netpol-c', 'svc-d'),
  fc.array(polArb, { maxLength: 2 }),
  { maxKeys: 4 },
);
/** Foreign objects another tool made: policies in tn-common and in our tenant. */
const foreignArb = fc.uniqueArray(
  fc.record({ name: word, descr: word, inOurTenant: fc.boolean() }),
  { selector: (f) => `${f.inOurTenant}${f.name}`, maxLength: 3 },
);

type DesiredSpec = Record<
  string,
  Array<{
    descr: string;
    subjs: Array<{
      name: string;
      rules: Array<{ name: string; direction: string; protocol: string; toPort: string }>;
    }>;
  }>
>;

/** Desired MOs per key; with ownTenant the cluster tenant itself is desired (else an admin made it). */
function render(spec: DesiredSpec, ownTenant = false): Map<string, Mo[]> {
  const out = new Map<string, Mo[]>();
  if (ownTenant) out.set(baseKey, [{ fvTenant: { attributes: { dn: tenantDn, name: 'kube' } } }]);
  for (const [key, pols] of Object.entries(spec)) {
    out.set(
      `${prefix}-${key}`,
      pols.map((p, i) => ({
        hostprotPol: {
          attributes: { dn: `${tenantDn}/pol-${key}-${i}`, name: `${key}-${i}`, descr: p.descr },
          children: p.subjs.map((s) => ({
            hostprotSubj: {
              attributes: { rn: `subj-${s.name}`, name: s.name },
              children: s.rules.map((r) => ({
                hostprotRule: { attributes: { rn: `rule-${r.name}`, ...r } },
              })),
            },
          })),
        },
      })),
    );
  }
  return out;
}

function foreignMos(
  foreign: Array<{ name: string; descr: string; inOurTenant: boolean }>,
): Array<[string, Mo]> {
  return foreign.map((f) => {
    const dn = `${f.inOurTenant ? tenantDn : 'uni/tn-common'}/pol-foreign-${f.name}`;
    return [dn, { hostprotPol: { attributes: { dn, name: `foreign-${f.name}`, descr: f.descr } } }];
  });
}

// ---- harness ----------------------------------------------------------------

const pki = generateServerPki();

interface Harness {
  sim: ApicSimulator;
  started: StartedSimulator;
  client: ApicClient;
  sync: ApicSync;
}

async function harness(sim: ApicSimulator, started: StartedSimulator): Promise<Harness> {
  const client = new ApicClient({
    hosts: [started.url],
    user: 'admin',
    password,
    caPem: started.caPem,
    backoff: { initialMs: 5, maxMs: 50 },
    maxRetries: 3,
  });
  const sync = new ApicSync({
    client,
    prefix,
    retryBackoff: { initialMs: 10, maxMs: 200 },
    writesPerSecond: 1000,
    writeConcurrency: 2,
  });
  return { sim, started, client, sync };
}

async function close(h: Harness): Promise<void> {
  await h.sync.stop();
  h.client.close();
}

function snapshot(sim: ApicSimulator): Map<string, ActualObject> {
  return new Map(sim.tree.dump().map((o) => [o.dn, { cls: o.cls, attrs: o.attrs }]));
}

/** Checks tree = desired ∪ foreign: owned objects are exactly the desired ones with their attributes, foreign ones unchanged. */
function checkConverged(
  sim: ApicSimulator,
  desired: Map<string, Mo[]>,
  foreign: Map<string, ActualObject>,
): string | undefined {
  const tree = snapshot(sim);
  const index = indexDesired(desired, prefix);
  for (const node of index.nodes.values()) {
    const o = tree.get(node.dn);
    if (o === undefined) return `missing ${node.dn}`;
    for (const [k, v] of Object.entries(node.attrs))
      if (o.attrs[k] !== v) return `${node.dn}.${k} is ${o.attrs[k]}, want ${v}`;
  }
  for (const [dn] of tree) {
    if (isOwned(dn, tree, prefix) && !index.nodes.has(dn)) return `owned but not desired: ${dn}`;
  }
  for (const [dn, f] of foreign) {
    const o = tree.get(dn);
    if (o === undefined) return `foreign ${dn} was deleted`;
    if (JSON.stringify(o.attrs) !== JSON.stringify(f.attrs)) return `foreign ${dn} was modified`;
  }
  return undefined;
}

async function settle(h: Harness): Promise<void> {
  // Let pushed events reach the engine before asking whether it is idle.
  await new Promise((r) => setTimeout(r, 60));
  await h.sync.waitIdle(20_000);
}

function setAll(sync: ApicSync, desired: Map<string, Mo[]>): void {
  sync.replaceDesired(desired);
}

let sim: ApicSimulator;
let started: StartedSimulator;

test.before(async () => {
  sim = new ApicSimulator({ users: { admin: password }, pki });
  started = await sim.start();
});

test.after.always(async () => {
  await started.stop();
});

test.serial(
  'sync makes the tree desired ∪ foreign, and a second sync writes nothing',
  async (t) => {
    await fc.assert(
      fc.asyncProperty(desiredArb, foreignArb, async (spec, foreignSpec) => {
        sim.tree.reset();
        sim.externalPost('uni', { fvTenant: { attributes: { dn: tenantDn, name: 'kube' } } });
        for (const [dn, mo] of foreignMos(foreignSpec)) sim.externalPost(dn, mo);
        const foreign = new Map([...snapshot(sim)].filter(([dn]) => dn.includes('pol-foreign')));
        const desired = render(spec);
        const h = await harness(sim, started);
        try {
          setAll(h.sync, desired);
          h.sync.start();
          await settle(h);
          const problem = checkConverged(sim, desired, foreign);
          if (problem !== undefined) throw new Error(problem);
          sim.resetStats();
          h.sync.resync();
          await settle(h);
          if (sim.stats.posts + sim.stats.deletes !== 0)
            throw new Error(
              `second sync wrote ${sim.stats.posts} POSTs, ${sim.stats.deletes} DELETEs`,
            );
          if (sim.stats.gets === 0) throw new Error('second sync did not read the APIC');
        } finally {
          await close(h);
        }
      }),
      { numRuns: 8 },
    );
    t.pass();
  },
);

test.serial(
  'changes made by another client to owned objects are repaired; foreign additions stay',
  async (t) => {
    const tamperArb = fc.array(
      fc.oneof(
        fc.record({ op: fc.constant('modify' as const), pick: fc.nat(), descr: word }),
        fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }),
        fc.record({ op: fc.constant('untag' as const), pick: fc.nat() }),
        fc.record({ op: fc.constant('foreignChild' as const), pick: fc.nat(), name: word }),
      ),
      { minLength: 1, maxLength: 4 },
    );
    await fc.assert(
      fc.asyncProperty(desiredArb, tamperArb, async (spec, tampers) => {
        sim.tree.reset();
        sim.externalPost('uni', { fvTenant: { attributes: { dn: tenantDn, name: 'kube' } } });
        const desired = render(spec);
        const h = await harness(sim, started);
        try {
          setAll(h.sync, desired);
          h.sync.start();
          await settle(h);
          const foreign = new Map<string, ActualObject>();
          for (const tamper of tampers) {
            const owned = [...indexDesired(desired, prefix).nodes.values()].filter(
              (n) =>
                n.cls === 'hostprotPol' || n.cls === 'hostprotSubj' || n.cls === 'hostprotRule',
            );
            const target = owned[tamper.pick % Math.max(1, owned.length)];
            if (target === undefined || sim.tree.get(target.dn) === undefined) continue;
            if (tamper.op === 'modify')
              sim.externalPost(target.dn, {
                [target.cls]: {
                  attributes: {
                    dn: target.dn,
                    descr: `tampered-${tamper.descr}`,
                    name: target.attrs.name ?? '',
                  },
                },
              });
            else if (tamper.op === 'delete') sim.externalDelete(target.dn);
            else if (tamper.op === 'untag')
              sim.externalDelete(`${target.dn}/annotationKey-[aci-containers-controller-tag]`);
            else if (target.cls === 'hostprotPol') {
              const dn = `${target.dn}/subj-foreign-${tamper.name}`;
              sim.externalPost(dn, {
                hostprotSubj: { attributes: { dn, name: `foreign-${tamper.name}` } },
              });
              const o = sim.tree.get(dn);
              if (o !== undefined) foreign.set(dn, { cls: o.cls, attrs: { ...o.attrs } });
            }
          }
          // A foreign child under an owned object that a later tamper deleted is gone with its parent; only living ones count.
          for (const dn of [...foreign.keys()])
            if (sim.tree.get(dn.replace(/\/subj-foreign-[^/]+$/, '')) === undefined)
              foreign.delete(dn);
          // The tampering reaches the engine through the subscription, a push whose delay a loaded
          // machine stretches past any fixed wait: probe for convergence until a deadline.
          const deadline = Date.now() + 20_000;
          let problem: string | undefined;
          for (;;) {
            await settle(h);
            problem = checkConverged(sim, desired, foreign);
            if (problem === undefined || Date.now() > deadline) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          if (problem !== undefined) throw new Error(problem);
        } finally {
          await close(h);
        }
      }),
      { numRuns: 6 },
    );
    t.pass();
  },
);

test.serial(
  'random fault schedules (503 bursts, dropped sockets, restarts) still converge',
  async (t) => {
    const faultArb = fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant('fail503' as const), n: fc.integer({ min: 1, max: 6 }) }),
        fc.record({ kind: fc.constant('drop' as const) }),
        fc.record({ kind: fc.constant('restart' as const), keepState: fc.boolean() }),
        fc.record({ kind: fc.constant('change' as const), spec: desiredArb }),
      ),
      { minLength: 1, maxLength: 4 },
    );
    await fc.assert(
      fc.asyncProperty(desiredArb, foreignArb, faultArb, async (spec, foreignSpec, faults) => {
        sim.tree.reset();
        // All in tn-common here; two generated names may then share one DN, and the last post wins.
        const foreignMo = [
          ...new Map(foreignMos(foreignSpec.map((f) => ({ ...f, inOurTenant: false })))),
        ];
        for (const [dn, mo] of foreignMo) sim.externalPost(dn, mo);
        let desired = render(spec, true);
        const h = await harness(sim, started);
        try {
          setAll(h.sync, desired);
          h.sync.start();
          for (const f of faults) {
            await new Promise((r) => setTimeout(r, 30));
            if (f.kind === 'fail503') await sim.inject({ fail503: f.n });
            else if (f.kind === 'drop') await sim.inject({ dropWebsockets: true });
            else if (f.kind === 'restart') {
              await sim.inject({ restart: { keepState: f.keepState, downMs: 100 } });
              // An APIC that lost its state gets the other tools' objects back from their owners.
              if (!f.keepState) for (const [dn, mo] of foreignMo) sim.externalPost(dn, mo);
            } else {
              desired = render(f.spec, true);
              setAll(h.sync, desired);
            }
          }
          await settle(h);
          const foreign = new Map([...snapshot(sim)].filter(([dn]) => dn.includes('pol-foreign')));
          if (foreign.size !== foreignMo.length) throw new Error('foreign objects were lost');
          const problem = checkConverged(sim, desired, foreign);
          if (problem !== undefined) throw new Error(problem);
        } finally {
          await close(h);
        }
      }),
      // The counterexample's own error (which object was left or lost), not only its inputs.
      { numRuns: 5, includeErrorInReport: true },
    );
    t.pass();
  },
);
