/**
 * Contracts on two nodes behind the simulated leaf, configured as a node
 * is: agent.json (written by the host agent's code) gains the `opflex`
 * section, and each node's agent opens its own verified-TLS session to the
 * leaf's OpFlex server, which reads the APIC simulator. Pods: a1 (EPG A)
 * and c1 (C) on n1, a2 (A) and b2 (B) on n2; A consumes `web` (TCP 80) from
 * B. Each node enforces between its own pods; what crosses the fabric is the
 * leaf's to police (docs/dataplane.md), and the simulated leaf polices
 * nothing, so cross-node traffic must keep flowing, not be cut.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { generateServerPki } from '../../e2e/apic-simulator/certs.ts';
import { type OpflexLeaf, startOpflexLeaf } from '../../e2e/leaf-simulator/opflex/leaf-opflex.ts';
import {
  OpflexDomain as domain,
  connectToLeaf,
  startApicWithTenant,
  until,
  webTenantTree,
} from '../../e2e/support/opflex/apic-tenant.ts';
import { Cleanup } from '../../e2e/support/opflex/netns.ts';
import { type EpgPods, startEpgPods } from '../../e2e/support/opflex/epg-pods.ts';
import { type TwoNodes, startTwoNodes } from '../../e2e/support/opflex/two-nodes.ts';

const Prefix = '10.135';
const Tag = `cn${process.pid % 1000}`;
const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let epgPods: EpgPods;
const reach: EpgPods['reach'] = (...args) => epgPods.reach(...args);
let env: TwoNodes;
let leaf: OpflexLeaf;

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dp-contracts-2n-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const apicSide = await startApicWithTenant(
    webTenantTree({ subnet: `${Prefix}.0.1/16` }),
    cleanup,
  );
  const pki = generateServerPki('leaf-opflex');
  env = await startTwoNodes({ tag: Tag, prefix: Prefix, dir, log, cleanup });
  const vlans = env.files[0]['agent.json'].bridgeDomainVlans as Record<string, number>;
  leaf = await startOpflexLeaf({
    apic: apicSide.leafLogin,
    host: '127.0.0.1',
    port: 0,
    tls: { certPem: pki.certPem, keyPem: pki.keyPem },
    platform: { domain, encapType: 'vlan' },
    // The BD's encap is the VLAN the nodes' uplinks use for it.
    bridgeDomainEncaps: { 'bd-pods': vlans['bd-pods'] ?? 0 },
    log,
  });
  cleanup.add(() => leaf.stop());
  epgPods = await startEpgPods(env, { tag: Tag, dir, cleanup });
  await env.settle();
  for (const node of env.nodes) await connectToLeaf(node, leaf.port, pki.caPath);
});

test.after.always(() => cleanup.run());

test.serial(
  'each node resolves the APIC contract over its own OpFlex session and enforces it between its pods',
  async (t) => {
    const tookMs = await until(
      'the contract in force on both nodes',
      async () => !(await reach('a1', 'c1', 80, 300)),
      20_000,
      50,
    );
    t.log(`agent.json with an opflex section -> contracts enforced on n1 after ${tookMs} ms`);
    await until(
      'n2 too',
      // An allowed connection gets the time a loaded machine needs for its first packets' upcalls.
      async () => (await reach('a2', 'b2', 80, 2000)) && !(await reach('a2', 'b2', 8080, 300)),
      20_000,
      50,
      async () => {
        const contracts = env.nodes[1].agent.lastModel?.contracts;
        return (
          `a2 -> b2: tcp/80 ${await reach('a2', 'b2', 80, 3000)}, tcp/8080 ${await reach('a2', 'b2', 8080)}; ` +
          `n2's resolved policy: ${contracts ? `${contracts.epgs.size} EPGs, ${contracts.rules.length} rules` : 'none'}`
        );
      },
    );
    const results = await Promise.all([
      reach('a1', 'c1', 80),
      reach('c1', 'a1', 8080),
      reach('a2', 'b2', 80, 3000),
      reach('a2', 'b2', 8080),
      reach('b2', 'a2', 80),
    ]);
    t.deepEqual(results, [false, false, true, false, false]);
    // Both nodes declare their endpoints to the leaf (a declaration is not a precondition of the
    // policy above, so it is waited for, not assumed to have landed with it).
    await until('both nodes to declare their endpoints', () => leaf.server.registry.size >= 4);
  },
);

test.serial(
  "traffic across the fabric is the leaf's to police: the nodes do not cut it",
  async (t) => {
    // Probed until a deadline, as a user would: the first cross-node packets wait for ARP through
    // the leaf. A node that cut them would keep them cut.
    await until(
      'cross-node traffic A -> B and A -> A',
      async () => (await reach('a1', 'b2', 80, 3000)) && (await reach('a1', 'a2', 8080, 3000)),
      20_000,
      50,
    );
    t.deepEqual(await Promise.all([reach('a1', 'b2', 80, 3000), reach('a1', 'a2', 8080, 3000)]), [
      true,
      true,
    ]);
  },
);
