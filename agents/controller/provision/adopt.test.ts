/**
 * Adoption of what acc-provision made, against the APIC simulator: the dry
 * run lists what would change without writing anything; with adoptExisting
 * the sync engine takes the annotated objects over (our annotation and tag,
 * desired attributes) and leaves unannotated ones alone; without it, it
 * leaves acc-provision's objects as they are.
 */
import test from 'ava';
import { generateServerPki } from '../../../e2e/apic-simulator/certs.ts';
import { ApicSimulator, type StartedSimulator } from '../../../e2e/apic-simulator/simulator.ts';
import { ApicClient } from '../apic/client.ts';
import { accProvisionAnnotation, isOwned, ownerAnnotation } from '../apic/diff.ts';
import { makeMo as mo, type Mo } from '../apic/mo.ts';
import { ApicSync } from '../apic/sync.ts';
import { adoptionPlan, formatAdoptionPlan, readDesiredSubtrees } from './adopt.ts';

const prefix = 'aci-containers-kube';
const tenant = 'uni/tn-kube';
const pki = generateServerPki();

/** What acc-provision posted: a DNS filter and contract, annotated as the original's. */
function accProvisionObjects(): Mo[] {
  const annotation = accProvisionAnnotation;
  return [
    mo('vzFilter', { dn: `${tenant}/flt-dns-filter`, name: 'dns-filter', annotation }, [
      mo('vzEntry', { rn: 'e-dns-udp', name: 'dns-udp', etherT: 'ip', prot: 'udp', annotation }),
    ]),
    mo('vzBrCP', { dn: `${tenant}/brc-dns`, name: 'dns', annotation }, [
      mo('vzSubj', { rn: 'subj-dns-subj', name: 'dns-subj', annotation }),
    ]),
    // Someone's own contract at a DN the cluster also wants: never ours.
    mo('vzBrCP', { dn: `${tenant}/brc-icmp`, name: 'icmp', descr: 'made by hand' }),
  ];
}

/** What the cluster desires there now (the DNS entry gains its ports). */
const desired = new Map<string, Mo[]>([
  [
    'provision/tenant',
    [
      mo('vzFilter', { dn: `${tenant}/flt-dns-filter`, name: 'dns-filter' }, [
        mo('vzEntry', {
          rn: 'e-dns-udp',
          name: 'dns-udp',
          etherT: 'ip',
          prot: 'udp',
          dFromPort: 'dns',
          dToPort: 'dns',
        }),
      ]),
      mo('vzBrCP', { dn: `${tenant}/brc-dns`, name: 'dns' }, [
        mo('vzSubj', { rn: 'subj-dns-subj', name: 'dns-subj' }),
      ]),
      mo('vzBrCP', { dn: `${tenant}/brc-icmp`, name: 'icmp' }),
      mo('vzBrCP', { dn: `${tenant}/brc-kube-api`, name: 'kube-api' }),
    ],
  ],
]);

let sim: ApicSimulator;
let started: StartedSimulator;
let client: ApicClient;

test.before(async () => {
  sim = new ApicSimulator({ users: { admin: 'pw' }, pki });
  started = await sim.start();
  client = new ApicClient({
    hosts: [started.url],
    user: 'admin',
    password: 'pw',
    caPem: started.caPem,
  });
});

test.after.always(async () => {
  client.close();
  await started.stop();
});

function seed(): void {
  sim.tree.reset();
  sim.externalPost('uni', { fvTenant: { attributes: { dn: tenant, name: 'kube' } } });
  for (const m of accProvisionObjects()) sim.externalPost(tenant, m);
}

const attrsAt = (dn: string) => sim.tree.dump().find((o) => o.dn === dn)?.attrs;

async function runSync(adopt: boolean): Promise<void> {
  const sync = new ApicSync({
    client,
    prefix,
    ...(adopt ? { adoptAnnotations: [accProvisionAnnotation] } : {}),
    retryBackoff: { initialMs: 5, maxMs: 50 },
  });
  sync.replaceDesired(desired);
  sync.start();
  try {
    await new Promise((r) => setTimeout(r, 60));
    await sync.waitIdle(20_000);
  } finally {
    await sync.stop();
  }
}

test.serial(
  'the dry run lists creations, adoptions and foreign objects and writes nothing',
  async (t) => {
    seed();
    const before = JSON.stringify(sim.tree.dump());
    await client.login(); // the login is a POST too
    sim.resetStats();
    const actual = await readDesiredSubtrees(client, desired);
    const plan = adoptionPlan(desired, actual, prefix, true);
    const action = (dn: string) => plan.find((c) => c.dn === dn)?.action;
    t.is(action(`${tenant}/flt-dns-filter`), 'adopt');
    t.is(action(`${tenant}/flt-dns-filter/e-dns-udp`), 'adopt');
    t.deepEqual(plan.find((c) => c.dn === `${tenant}/flt-dns-filter/e-dns-udp`)?.attributes, {
      annotation: [accProvisionAnnotation, ownerAnnotation(prefix)],
      // The APIC's default for a port never set.
      dFromPort: [actual.get(`${tenant}/flt-dns-filter/e-dns-udp`)?.attrs.dFromPort, 'dns'],
      dToPort: [actual.get(`${tenant}/flt-dns-filter/e-dns-udp`)?.attrs.dToPort, 'dns'],
    });
    t.is(action(`${tenant}/brc-icmp`), 'foreign');
    t.is(action(`${tenant}/brc-kube-api`), 'create');
    t.regex(formatAdoptionPlan(plan), /4 adopt, 1 foreign, 1 create/);
    t.is(sim.stats.posts + sim.stats.deletes, 0);
    t.is(JSON.stringify(sim.tree.dump()), before);

    const without = adoptionPlan(desired, actual, prefix, false);
    t.is(without.find((c) => c.dn === `${tenant}/brc-dns`)?.action, 'foreign');
  },
);

test.serial(
  'with adoptExisting the engine takes acc-provision objects over, never hand-made ones',
  async (t) => {
    seed();
    await runSync(true);
    const entry = attrsAt(`${tenant}/flt-dns-filter/e-dns-udp`);
    t.is(entry?.annotation, ownerAnnotation(prefix));
    t.is(entry?.dFromPort, 'dns');
    const tree = new Map(sim.tree.dump().map((o) => [o.dn, { cls: o.cls, attrs: o.attrs }]));
    t.true(isOwned(`${tenant}/brc-dns`, tree, prefix));
    t.true(isOwned(`${tenant}/brc-kube-api`, tree, prefix));
    t.false(isOwned(`${tenant}/brc-icmp`, tree, prefix));
    t.is(attrsAt(`${tenant}/brc-icmp`)?.descr, 'made by hand');
    // Once adopted, a second dry run has nothing left to do.
    const again = adoptionPlan(desired, await readDesiredSubtrees(client, desired), prefix, true);
    t.deepEqual([...new Set(again.map((c) => c.action))].sort(), ['foreign', 'unchanged']);
  },
);

test.serial('without adoptExisting acc-provision objects stay as they are', async (t) => {
  seed();
  await runSync(false);
  const entry = attrsAt(`${tenant}/flt-dns-filter/e-dns-udp`);
  t.is(entry?.annotation, accProvisionAnnotation);
  t.not(entry?.dFromPort, 'dns');
  t.is(attrsAt(`${tenant}/brc-kube-api`)?.annotation, ownerAnnotation(prefix));
});
