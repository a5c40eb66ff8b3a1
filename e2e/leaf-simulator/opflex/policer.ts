/**
 * The leaf's contract enforcement: what the fabric polices in ACI, traffic
 * between endpoints on different nodes. The nodes leave it to the leaf (a
 * destination that is not a local pod is "the destination's side", fabric
 * traffic they cannot classify is policy-applied, docs/dataplane.md); a
 * real leaf classifies both ends by the endpoint's EPG (pcTag) and applies
 * the zoning rules of the contracts between them. This one does the same
 * from what its OpFlex server holds: the endpoints the nodes declared
 * (EprL3Ep: address → EPG) and the policy it maps from the APIC, resolved
 * by the agents' own resolver and rendered by the agents' own rule builder
 * (agents/opflex/stages/contracts.ts), so leaf and node never read a
 * contract two ways.
 *
 * Flows on the leaf's switch, beside its learning-switch flow (NORMAL):
 *   table 0   ip → conntrack, table 1
 *   table 1   replies and established → NORMAL; a new connection from a
 *             declared endpoint → SrcClass, table 2; else NORMAL (not an
 *             endpoint: node host stacks, the L3Out)
 *   table 2   to a declared endpoint → DstClass, table 3; else NORMAL
 *   table 3   the contract rules, intra-EPG and unenforced-VRF rows
 *             between classes → commit, NORMAL; no rule → drop
 * Traffic that the leaf routes between its SVIs crosses the switch twice;
 * the second pass is classified the same way and reaches the same verdict.
 * An address two endpoints declare, or whose EPG is unresolved, is not
 * classified (never guess a class).
 *
 * Pure core: `leafEndpoints`, `leafPolicyLines`. Thin shell: `LeafPolicer`.
 */
import type { Logger } from 'pino';
import { type ManagedObject, isReference, propertyOf } from '../../../lib/opflex/mo.ts';
import { DstClass, SrcClass, loadField } from '../../../agents/opflex/fields.ts';
import type { ContractModel } from '../../../agents/opflex/policy/contract-model.ts';
import { resolveContracts } from '../../../agents/opflex/policy/resolve.ts';
import {
  contractRuleFlows,
  intraGroupFlow,
  unenforcedFlows,
} from '../../../agents/opflex/stages/contracts.ts';
import { type OfTarget, bundle } from '../../../agents/openvswitch/ofctl.ts';
import type { RegisteredEndpoint } from './server.ts';

/** Cookie of every policy flow on the leaf's switch (its learning-switch flow has cookie 0). */
export const LeafPolicyCookie = 0x1eaf_c0de;
/** The conntrack zone of the leaf's switch. */
export const LeafZone = 7;

export interface LeafEndpoint {
  ip: string;
  epg: string;
}

/** Address → EPG of every declared L3 endpoint. */
export function leafEndpoints(registry: Iterable<RegisteredEndpoint>): LeafEndpoint[] {
  const out: LeafEndpoint[] = [];
  for (const ep of registry)
    for (const mo of ep.objects) {
      if (mo.subject !== 'EprL3Ep') continue;
      const ip = propertyOf(mo, 'ip');
      const group = propertyOf(mo, 'group');
      const epg = isReference(group) ? group.reference_uri : group;
      if (typeof ip === 'string' && typeof epg === 'string') out.push({ ip, epg });
    }
  return out;
}

const allow = `ct(commit,zone=${LeafZone}),NORMAL`;
const line = (table: number, priority: number, match: string, actions: string): string =>
  `flow add cookie=0x${LeafPolicyCookie.toString(16)},table=${table},priority=${priority}${match ? `,${match}` : ''},actions=${actions}`;

/** The bundle that replaces every policy flow: the delete first, so it is all or nothing. */
export function leafPolicyLines(
  model: ContractModel,
  endpoints: readonly LeafEndpoint[],
): string[] {
  const lines = [
    `flow delete cookie=0x${LeafPolicyCookie.toString(16)}/-1`,
    line(0, 50, 'ip', `ct(table=1,zone=${LeafZone})`),
    line(1, 100, 'ct_state=-new+trk,ip', 'NORMAL'),
    line(1, 0, '', 'NORMAL'),
    line(2, 0, '', 'NORMAL'),
    line(3, 0, '', 'drop'),
  ];
  const classOf = new Map<string, number | undefined>();
  for (const ep of endpoints) {
    const cls = model.epgs.get(ep.epg)?.classId;
    classOf.set(ep.ip, classOf.has(ep.ip) && classOf.get(ep.ip) !== cls ? undefined : cls);
  }
  const classes = new Set<number>();
  for (const [ip, cls] of [...classOf].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (cls === undefined) continue;
    classes.add(cls);
    lines.push(
      line(1, 90, `ct_state=+new+trk,ip,nw_src=${ip}`, `${loadField(SrcClass, cls)},resubmit(,2)`),
      line(2, 90, `ip,nw_dst=${ip}`, `${loadField(DstClass, cls)},resubmit(,3)`),
    );
  }
  const policy = [
    ...[...model.epgs.values()]
      .filter((e) => classes.has(e.classId))
      .flatMap((e) => [
        ...(e.enforced ? [] : unenforcedFlows(e.classId)),
        ...(e.intraGroup === 'require-contract' ? [] : [intraGroupFlow(e.classId, e.intraGroup)]),
      ]),
    ...model.rules
      .filter((r) => classes.has(r.srcClass) && classes.has(r.dstClass))
      .flatMap((r) => contractRuleFlows(r)),
  ];
  for (const f of policy)
    lines.push(line(3, f.priority, f.match, f.actions === 'drop' ? 'drop' : allow));
  return lines;
}

export interface LeafPolicerOptions {
  /** The leaf's switch. */
  target: OfTarget;
  /** What the OpFlex server holds now. */
  policy: () => Iterable<ManagedObject>;
  registry: () => Iterable<RegisteredEndpoint>;
  log: Logger;
}

/**
 * Installs `leafPolicyLines` whenever `changed()` is called, coalesced and
 * serial; a failed install is retried with backoff (the switch may be
 * restarting), an unchanged result is not reinstalled.
 */
export class LeafPolicer {
  private installed?: string;
  private running?: Promise<void>;
  private again = false;
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private stopped = false;

  constructor(private readonly opts: LeafPolicerOptions) {}

  changed(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.apply().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.changed();
      }
    });
  }

  /** Resolves once the current state is installed (or the attempt failed and a retry is scheduled). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async apply(): Promise<void> {
    const model = resolveContracts(this.opts.policy());
    const endpoints = leafEndpoints(this.opts.registry());
    const lines = leafPolicyLines(model, endpoints);
    const text = lines.join('\n');
    if (text === this.installed) return;
    try {
      await bundle(this.opts.target, lines);
      this.installed = text;
      this.failures = 0;
      this.opts.log.info(
        { endpoints: endpoints.length, rules: model.rules.length, flows: lines.length - 1 },
        'Installed leaf contract policy',
      );
    } catch (err) {
      this.failures++;
      const delayMs = Math.min(10_000, 200 * 2 ** Math.min(this.failures, 6));
      this.opts.log.warn(
        { err: String(err), retryInMs: delayMs },
        'Failed to install leaf contract policy; retrying',
      );
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.changed(), delayMs);
    }
  }
}
