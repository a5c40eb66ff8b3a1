/**
 * The leaf polices what crosses the fabric, with VXLAN encap: two nodes
 * tunnel to the simulated leaf's anycast VTEP (as in vxlan.dataplane), each
 * opens its own OpFlex session to the leaf's server, declares its endpoints
 * and resolves the APIC's contract; the leaf's switch, where the tunnels end,
 * classifies both ends of a new connection by the endpoints the nodes
 * declared and applies the same contract (e2e/leaf-simulator/opflex/
 * policer.ts). Pods: a1 (EPG A) and c1 (C) on n1, a2 (A) and b2 (B) on n2;
 * A consumes `web` (TCP 80) from B. The nodes leave cross-node traffic to
 * the leaf (contracts-two-nodes.dataplane shows that, with a leaf that
 * polices nothing), so what is cut here is cut by the leaf: its drop flow
 * counts it.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ofctl } from '../openvswitch/ofctl.ts';
import { generateServerPki } from '../../e2e/apic-simulator/certs.ts';
import { LeafBridge } from '../../e2e/leaf-simulator/leaf.ts';
import { type OpflexLeaf, startOpflexLeaf } from '../../e2e/leaf-simulator/opflex/leaf-opflex.ts';
import { LeafPolicyCookie } from '../../e2e/leaf-simulator/opflex/policer.ts';
import {
  OpflexDomain as domain,
  connectToLeaf,
  startApicWithTenant,
  tcpEntry,
  until,
  webTenantTree,
  type ApicWithTenant,
} from '../../e2e/support/opflex/apic-tenant.ts';
import { Cleanup } from '../../e2e/support/opflex/netns.ts';
import { type EpgPods, startEpgPods } from '../../e2e/support/opflex/epg-pods.ts';
import { type TwoNodes, startTwoNodes } from '../../e2e/support/opflex/two-nodes.ts';

const Prefix = '10.136';
const Tag = `cv${process.pid % 1000}`;
const NodeIP = (i: number): string => `192.168.136.${i + 1}`;
const Deadline = 20_000;
const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let epgPods: EpgPods;
const reach: EpgPods['reach'] = (...args) => epgPods.reach(...args);
let env: TwoNodes;
let apicSide: ApicWithTenant;
let leaf: OpflexLeaf;

/** Packets the leaf's contract table dropped (its table-miss `drop` flow). */
async function leafDrops(): Promise<number> {
  const out = await ofctl({ rundir: env.leaf.ovsDir, bridge: LeafBridge }, [
    'dump-flows',
    `cookie=0x${LeafPolicyCookie.toString(16)}/-1,table=3`,
  ]);
  let dropped = 0;
  for (const line of out.split('\n'))
    if (/actions=drop/.test(line)) dropped += Number(/n_packets=(\d+)/.exec(line)?.[1] ?? 0);
  return dropped;
}

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dp-contracts-vxlan-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  apicSide = await startApicWithTenant(webTenantTree({ subnet: `${Prefix}.0.1/16` }), cleanup);
  env = await startTwoNodes({
    tag: Tag,
    prefix: Prefix,
    nodeIPs: (i) => [NodeIP(i)],
    encap: 'vxlan',
    dir,
    log,
    cleanup,
  });
  const vnis = (env.files[0]['agent.json'].bridgeDomainVnis ?? {}) as Record<string, number>;
  const pki = generateServerPki('leaf-opflex');
  leaf = await startOpflexLeaf({
    apic: apicSide.leafLogin,
    host: '127.0.0.1',
    port: 0,
    tls: { certPem: pki.certPem, keyPem: pki.keyPem },
    platform: { domain, encapType: 'vxlan' },
    // The BD's encap is the VNI the nodes' tunnels carry for it.
    bridgeDomainEncaps: { 'bd-pods': vnis['bd-pods'] ?? 0 },
    // As a real leaf, it enforces the contracts between the endpoints the nodes declare.
    police: { rundir: env.leaf.ovsDir, bridge: LeafBridge },
    log,
  });
  cleanup.add(() => leaf.stop());
  epgPods = await startEpgPods(env, { tag: Tag, dir, cleanup, checksumOffloadOff: true });
  for (const node of env.nodes) await connectToLeaf(node, leaf.port, pki.caPath);
});

test.after.always(() => cleanup.run());

test.serial(
  'across a VXLAN fabric the leaf enforces the contract between the endpoints the nodes declared',
  async (t) => {
    // The nodes enforce between their own pods once they resolved the policy...
    await until('n1 enforcing A/C', async () => !(await reach('a1', 'c1', 80, 300)), Deadline, 50);
    // ...and the leaf between nodes, once both declared their endpoints.
    const tookMs = await until(
      'the leaf enforcing A -> B',
      // An allowed connection gets the time a loaded machine needs for its first packets' upcalls.
      async () => (await reach('a1', 'b2', 80, 2000)) && !(await reach('a1', 'b2', 8080, 300)),
      Deadline,
      50,
    );
    t.log(`both nodes connected -> the leaf polices A -> B after ${tookMs} ms`);
    const dropsBefore = await leafDrops();
    const results = await Promise.all([
      reach('a1', 'b2', 80, 3000),
      reach('a1', 'b2', 8080),
      reach('b2', 'a1', 80),
      reach('c1', 'b2', 80),
      reach('a1', 'a2', 8080, 3000),
    ]);
    t.deepEqual(results, [true, false, false, false, true], 'A->B:80, A->B:8080, B->A, C->B, A->A');
    t.true((await leafDrops()) > dropsBefore, 'the denied connections were dropped by the leaf');
  },
);

test.serial(
  'a contract changed on the APIC reaches the leaf too: the new port crosses the fabric, the old one not',
  async (t) => {
    await apicSide.apic.post('uni/tn-kube/flt-http/e-tcp80', tcpEntry('tcp80', '8080'));
    const tookMs = await until(
      'the leaf applying the new filter',
      async () => (await reach('a1', 'b2', 8080, 2000)) && !(await reach('a1', 'b2', 80, 300)),
      Deadline,
      50,
    );
    t.log(`APIC filter change -> the leaf polices the new port after ${tookMs} ms`);
    t.false(await reach('b2', 'a1', 8080), 'still one way: B does not consume from A');
  },
);
