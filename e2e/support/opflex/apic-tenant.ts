/**
 * The APIC side of the OpFlex tests and benchmark: the tenant they police
 * (EPGs A, B and C in one bridge domain; A consumes the contract `web`
 * that B provides; C has none), posted to an APIC simulator, with what a
 * leaf simulator needs to read it back; and the probe loop the tests wait
 * with (real packets or real state until a deadline, never a settle hook).
 * `connectToLeaf` is the host agent's step that points a node at the leaf.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { ApicClient } from '../../../agents/controller/apic/client.ts';
import type { Mo } from '../../../agents/controller/apic/mo.ts';
import type { ServerPki } from '../../apic-simulator/certs.ts';
import { ApicSimulator } from '../../apic-simulator/simulator.ts';
import type { TestNode } from './node.ts';

/** The OpFlex domain the agents resolve (the VMM domain's controller, as the original names it). */
export const OpflexDomain = 'comp/prov-Kubernetes/ctrlr-[kube]-kube/sw-InsiemeLSOid';

export const mo = (cls: string, attributes: Record<string, string>, children: Mo[] = []): Mo =>
  children.length > 0 ? { [cls]: { attributes, children } } : { [cls]: { attributes } };

/** A stateful TCP filter entry for a destination port or range. */
export const tcpEntry = (name: string, from: string, to = from): Mo =>
  mo('vzEntry', { name, etherT: 'ip', prot: 'tcp', dFromPort: from, dToPort: to, stateful: 'yes' });

export interface WebTenantOptions {
  /** The pod bridge domain's subnet, as its gateway: `10.2.0.1/16`. */
  subnet: string;
  /** The filter of contract `web` (default `http` with entry `tcp80`, TCP 80). */
  filter?: { name: string; entries: Mo[] };
  /** The EPGs (default A, B and C). */
  epgs?: readonly ('A' | 'B' | 'C')[];
}

/** Tenant `kube`: EPGs in `bd-pods` (VRF `vrf`); A consumes `web` from B; nothing for C. */
export function webTenantTree(options: WebTenantOptions): Mo {
  const filter = options.filter ?? { name: 'http', entries: [tcpEntry('tcp80', '80')] };
  const relations: Record<'A' | 'B' | 'C', Mo[]> = {
    A: [mo('fvRsCons', { tnVzBrCPName: 'web' })],
    B: [mo('fvRsProv', { tnVzBrCPName: 'web' })],
    C: [],
  };
  return mo('fvTenant', { name: 'kube' }, [
    mo('fvCtx', { name: 'vrf' }),
    mo('fvBD', { name: 'bd-pods' }, [
      mo('fvRsCtx', { tnFvCtxName: 'vrf' }),
      mo('fvSubnet', { ip: options.subnet }),
    ]),
    mo('vzFilter', { name: filter.name }, filter.entries),
    mo('vzBrCP', { name: 'web' }, [
      mo('vzSubj', { name: 's', revFltPorts: 'yes' }, [
        mo('vzRsSubjFiltAtt', { tnVzFilterName: filter.name }),
      ]),
    ]),
    mo(
      'fvAp',
      { name: 'kubernetes' },
      (options.epgs ?? ['A', 'B', 'C']).map((name) =>
        mo('fvAEPg', { name }, [mo('fvRsBd', { tnFvBDName: 'bd-pods' }), ...relations[name]]),
      ),
    ),
  ]);
}

export interface ApicWithTenant {
  apic: ApicClient;
  url: string;
  caPem: string;
  /** The leaf simulator's `apic` option: how it logs in to read the tree. */
  leafLogin: { url: string; user: string; password: string; caPem: string };
}

/** An APIC simulator holding `tree` under uni/tn-kube; stopped by `cleanup`. */
export async function startApicWithTenant(
  tree: Mo,
  cleanup: { add(step: () => unknown): void },
  options: { password?: string; pki?: ServerPki } = {},
): Promise<ApicWithTenant> {
  const password = options.password ?? 'noir0123-secret';
  const sim = new ApicSimulator({
    users: { admin: password },
    ...(options.pki ? { pki: options.pki } : {}),
  });
  const started = await sim.start();
  cleanup.add(() => started.stop());
  const apic = new ApicClient({
    hosts: [started.url],
    user: 'admin',
    password,
    caPem: started.caPem,
  });
  cleanup.add(() => apic.close());
  await apic.post('uni/tn-kube', tree);
  return {
    apic,
    url: started.url,
    caPem: started.caPem,
    leafLogin: { url: started.url, user: 'admin', password, caPem: started.caPem },
  };
}

/**
 * Checks until `check` holds (what a user would observe) and returns how long
 * it took; on timeout the error says what `explain` finds then (the state a
 * failure report needs and the check alone does not keep).
 */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 20,
  explain?: () => string | Promise<string>,
): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs)
      throw new Error(
        `timed out waiting for ${what}${explain ? `: ${await Promise.resolve().then(explain).catch(String)}` : ''}`,
      );
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return Date.now() - start;
}

/**
 * What the host agent adds to a node's agent.json once the fabric names a
 * leaf (agents/host/node-agents.ts): the OpFlex peer, domain, the node's
 * name and verified TLS. Written by rename, as the host agent writes it.
 */
export async function connectToLeaf(node: TestNode, port: number, caFile: string): Promise<void> {
  const file = node.opts.agentConfigFile ?? '';
  const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  config.opflex = {
    peers: [{ host: '127.0.0.1', port }],
    domain: OpflexDomain,
    name: node.opts.name,
    tls: { mode: 'verify', caFile },
  };
  await writeFile(`${file}.tmp`, JSON.stringify(config, null, 2));
  await rename(`${file}.tmp`, file);
}
