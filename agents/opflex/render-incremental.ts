/**
 * The pipeline rendered per key, for the sync loop that renders again after
 * every change. renderPipeline builds all of a node's flows each time (at
 * 1,000 endpoints and 1,000 security groups: 14,624 flows, ~400 ms of render
 * and ~300 ms of cookies per change); here a change costs what it touches:
 *
 * - Fragments. Each stage's output is kept in fragments by what it depends
 *   on (render.ts `StageKind`): one per endpoint (the stage run on a model
 *   with that endpoint alone, less what the stage renders without any), one
 *   per security group (the stage run on the group and its members), one
 *   for the rest. A fragment is rendered again only when its inputs differ
 *   from the last render's; inputs are compared by reference first and by
 *   value after, so a re-read file with the same content changes nothing.
 * - Slots. OVS keeps one flow per (table, priority, match). Every fragment's
 *   flows are contributions to their slot; the winner is the contribution
 *   earliest in pipeline order (stage, then endpoint order), as
 *   renderPipeline picks the first. Conjunction clauses of the
 *   SecurityGroup stage are merged per slot across groups, as the stage
 *   merges them.
 * - Cookies and delta. Only a slot whose winner changed is hashed and
 *   written out, and the render returns the delta from the previous
 *   generation, so the installer plans the bundle from the change alone.
 *
 * The result equals renderPipeline's for the same model (flows, groups,
 * conflicts), whatever sequence of models came before: the property test
 * in render-incremental.test.ts checks it.
 */
import { type DesiredDelta, type DesiredState, type VersionedDesired, cookieOf } from './diff.ts';
import type { SecurityGroupFile } from './files.ts';
import type { LocalEndpoint, Model } from './model.ts';
import { type CookieOwner, type Flow, type Group, flowSpec, groupSpec } from './pipeline.ts';
import { type StageRenderer, stageRenderers } from './render.ts';
import { conjunctionIds } from './stages/securitygroup.ts';

export interface IncrementalRender extends VersionedDesired {
  /** Conflicting flows (renderPipeline's `conflicts`) in slots this render changed. */
  newConflicts: Flow[];
}

/** Structural equality of model data (plain objects, arrays, Maps, Sets). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !sameValue(v, b.get(k))) return false;
    return true;
  }
  if (a instanceof Set) {
    if (!(b instanceof Set) || a.size !== b.size) return false;
    for (const v of a) if (!b.has(v)) return false;
    return true;
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k of ka) if (!Object.hasOwn(rb, k) || !sameValue(ra[k], rb[k])) return false;
  return true;
}

/** Everything a flow's cookie and text depend on. */
const flowKey = (f: Flow): string =>
  `${f.feature}\u0000${f.table}\u0000${f.priority}\u0000${f.match}\u0000${f.actions}`;
const slotKey = (f: Flow): string => `${f.table}\u0000${f.priority}\u0000${f.match}`;

/** The collections that fragments are split by; every other model field is a global input. */
const collections = new Set(['endpoints', 'securityGroups', 'services']);
const noGroups: ReadonlyMap<string, SecurityGroupFile> = new Map();

function sameGlobals(a: Model, b: Model): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (collections.has(k)) continue;
    if (
      !sameValue(
        (a as unknown as Record<string, unknown>)[k],
        (b as unknown as Record<string, unknown>)[k],
      )
    )
      return false;
  }
  return true;
}

/** Where a fragment's flows sit in pipeline order: stage, section, position (shared, updated each render). */
class Fragment {
  flows = new Map<string, Flow>();
  order = new Map<string, number>();
  groups = new Map<number, string>();
  /** SecurityGroup clause contributions: clause slot -> conjunction actions. */
  clauses = new Map<string, { proto: Flow; tokens: string[] }>();
  constructor(
    readonly stage: number,
    readonly section: number,
    readonly pos: { value: number },
  ) {}
}

interface Entry {
  flow: Flow;
  key: string;
  /** Contributing fragment -> index of the flow in that fragment's output. */
  refs: Map<Fragment, number>;
}

interface Winner {
  key: string;
  flow: Flow;
  cookie: bigint;
}

interface Slot {
  entries: Map<string, Entry>;
  winner?: Winner;
}

function compareRank(a: Fragment, ai: number, b: Fragment, bi: number): number {
  return a.stage - b.stage || a.section - b.section || a.pos.value - b.pos.value || ai - bi;
}

function firstEntry(slot: Slot): Entry | undefined {
  let best: Entry | undefined;
  let bestFrag: Fragment | undefined;
  let bestIdx = 0;
  for (const e of slot.entries.values())
    for (const [frag, idx] of e.refs)
      if (!bestFrag || compareRank(frag, idx, bestFrag, bestIdx) < 0) {
        best = e;
        bestFrag = frag;
        bestIdx = idx;
      }
  return best;
}

const conjunctionToken = /conjunction\(\d+,\d+\/\d+\)/g;
const onlyConjunctions = /^conjunction\(\d+,\d+\/\d+\)(,conjunction\(\d+,\d+\/\d+\))*$/;

interface PerEndpointState {
  kind: 'per-endpoint';
  /** Flow keys the stage renders without endpoints, services and groups: left out of endpoint fragments. */
  base: Set<string>;
  rest: Fragment;
  endpoints: Map<string, Fragment>;
}

interface GroupState {
  file: SecurityGroupFile;
  /** Conjunction ids of its rules when allocated for this group alone. */
  ownIds: Map<string, number>;
  frag: Fragment;
}

interface SecurityGroupState {
  kind: 'per-security-group';
  base: Set<string>;
  rest: Fragment;
  /** One fragment for the merged clause flows. */
  clauseFrag: Fragment;
  groups: Map<string, GroupState>;
  /** Endpoints with a group whose file is missing (isolated both ways). */
  missing: Map<string, Fragment>;
  /** Group name -> member endpoint key -> times listed. */
  members: Map<string, Map<string, number>>;
  /** Active group -> the directions of its rules: what its conjunction id keys are made of. */
  ruleKeys: Map<string, string>;
  /** Set when conjunction ids allocated per group differ from the stage's (a hash collision): the stage is rendered whole. */
  whole?: Fragment;
}

interface WholeState {
  kind: 'whole';
  frag: Fragment;
}

type StageState = PerEndpointState | SecurityGroupState | WholeState;

export class IncrementalRenderer {
  private slots = new Map<string, Slot>();
  private dirtySlots = new Set<string>();
  private contested = new Set<string>();
  private groupOwners = new Map<number, Map<Fragment, string>>();
  private dirtyGroups = new Set<number>();
  private clauses = new Map<string, { proto: Flow; tokens: Map<string, number> }>();
  private dirtyClauses = new Set<string>();
  private clauseFlows = new Map<string, Flow>();
  private stages: StageState[] = [];
  private last?: Model;
  private endpoints = new Map<string, LocalEndpoint>();
  private positions = new Map<string, { value: number }>();
  private desired: DesiredState = { flows: new Map(), groups: new Map() };
  private generation = 0;
  private fresh = true;
  private delta: DesiredDelta = this.emptyDelta();
  private newConflicts: Flow[] = [];

  constructor(
    private readonly owner: CookieOwner,
    private readonly stageList: readonly StageRenderer[] = stageRenderers,
  ) {}

  /** The flows currently desired (one per slot), for tests and tools. */
  flows(): Flow[] {
    const out: Flow[] = [];
    for (const s of this.slots.values()) if (s.winner) out.push(s.winner.flow);
    return out;
  }

  groups(): Map<number, string> {
    return new Map(this.desired.groups);
  }

  /** Every flow that lost its slot to a different one, as renderPipeline's `conflicts` (without repeats). */
  conflicts(): Flow[] {
    const out: Flow[] = [];
    for (const key of this.contested) {
      const slot = this.slots.get(key);
      const w = slot?.winner;
      if (!slot || !w) continue;
      for (const e of slot.entries.values())
        if (e.key !== w.key && e.flow.actions !== w.flow.actions) out.push(e.flow);
    }
    return out;
  }

  render(m: Model): IncrementalRender {
    try {
      return this.renderOnce(m);
    } catch (err) {
      // A stage that threw left fragments half updated: start over on the next render.
      this.reset();
      throw err;
    }
  }

  private reset(): void {
    this.slots = new Map();
    this.dirtySlots = new Set();
    this.contested = new Set();
    this.groupOwners = new Map();
    this.dirtyGroups = new Set();
    this.clauses = new Map();
    this.dirtyClauses = new Set();
    this.clauseFlows = new Map();
    this.stages = [];
    this.last = undefined;
    this.endpoints = new Map();
    this.positions = new Map();
    this.desired = { flows: new Map(), groups: new Map() };
    this.fresh = true;
  }

  private emptyDelta(): DesiredDelta {
    return {
      from: this.generation,
      to: this.generation + 1,
      flowAdds: new Map(),
      flowDeletes: new Set(),
      groupWrites: new Map(),
      groupDeletes: new Set(),
    };
  }

  private renderOnce(m: Model): IncrementalRender {
    this.delta = this.emptyDelta();
    this.newConflicts = [];
    const first = this.last === undefined;
    const globalsChanged = first || !sameGlobals(this.last as Model, m);

    // Endpoints by uuid (a repeated uuid gets a suffix, so each keeps its own fragment).
    const eps = new Map<string, LocalEndpoint>();
    const seen = new Map<string, number>();
    m.endpoints.forEach((ep, i) => {
      const n = seen.get(ep.uuid) ?? 0;
      seen.set(ep.uuid, n + 1);
      const key = n === 0 ? ep.uuid : `${ep.uuid}\u0000${n}`;
      eps.set(key, ep);
      const pos = this.positions.get(key);
      if (pos) pos.value = i;
      else this.positions.set(key, { value: i });
    });
    const dirtyEps = new Set<string>();
    for (const [key, ep] of eps) {
      const prev = this.endpoints.get(key);
      if (!prev || !sameValue(prev, ep)) dirtyEps.add(key);
    }
    const removedEps: string[] = [];
    for (const key of this.endpoints.keys()) if (!eps.has(key)) removedEps.push(key);
    const endpointsChanged = dirtyEps.size > 0 || removedEps.length > 0;

    const prevServices = this.last?.services;
    const servicesChanged =
      !prevServices ||
      prevServices.length !== m.services.length ||
      m.services.some((s, i) => !sameValue(s, prevServices[i]));

    const changedGroups = new Set<string>();
    const prevGroups = this.last?.securityGroups ?? noGroups;
    for (const [name, g] of m.securityGroups)
      if (!sameValue(g, prevGroups.get(name))) changedGroups.add(name);
    for (const name of prevGroups.keys()) if (!m.securityGroups.has(name)) changedGroups.add(name);

    const anything =
      globalsChanged || endpointsChanged || servicesChanged || changedGroups.size > 0;

    this.stageList.forEach((stage, si) => {
      switch (stage.kind) {
        case 'whole': {
          let st = this.stages[si] as WholeState | undefined;
          if (!st) {
            st = { kind: 'whole', frag: new Fragment(si, 0, { value: 0 }) };
            this.stages[si] = st;
          } else if (!anything) return;
          this.setOutput(st.frag, stage.render(m));
          return;
        }
        case 'per-endpoint':
          this.renderPerEndpoint(
            si,
            stage,
            m,
            eps,
            dirtyEps,
            removedEps,
            globalsChanged,
            servicesChanged,
          );
          return;
        case 'per-security-group':
          this.renderSecurityGroups(
            si,
            stage,
            m,
            eps,
            dirtyEps,
            removedEps,
            globalsChanged,
            changedGroups,
          );
          return;
      }
    });

    for (const key of removedEps) this.positions.delete(key);
    this.endpoints = eps;
    this.last = m;
    this.finishClauses();
    this.finishSlots();
    this.finishGroups();

    this.generation++;
    const delta = this.fresh ? undefined : this.delta;
    this.fresh = false;
    return {
      state: this.desired,
      generation: this.generation,
      ...(delta ? { delta } : {}),
      newConflicts: this.newConflicts,
    };
  }

  // ---- stages ------------------------------------------------------------------

  private renderPerEndpoint(
    si: number,
    stage: StageRenderer,
    m: Model,
    eps: Map<string, LocalEndpoint>,
    dirtyEps: Set<string>,
    removedEps: string[],
    globalsChanged: boolean,
    servicesChanged: boolean,
  ): void {
    const bare: Model = { ...m, endpoints: [], services: [], securityGroups: new Map() };
    let st = this.stages[si] as PerEndpointState | undefined;
    const all = !st || globalsChanged;
    if (!st) {
      st = {
        kind: 'per-endpoint',
        base: new Set(),
        rest: new Fragment(si, 1, { value: 0 }),
        endpoints: new Map(),
      };
      this.stages[si] = st;
    }
    if (all) st.base = new Set(stage.render(bare).flows.map(flowKey));
    if (all || servicesChanged)
      this.setOutput(st.rest, stage.render({ ...m, endpoints: [], securityGroups: new Map() }));
    const base = st.base;
    for (const [key, ep] of eps) {
      let frag = st.endpoints.get(key);
      if (frag && !all && !dirtyEps.has(key)) continue;
      if (!frag) {
        frag = new Fragment(si, 0, this.positions.get(key) ?? { value: 0 });
        st.endpoints.set(key, frag);
      }
      const out = stage.render({ ...bare, endpoints: [ep] });
      this.setOutput(frag, {
        flows: out.flows.filter((f) => !base.has(flowKey(f))),
        groups: out.groups,
      });
    }
    for (const key of removedEps) {
      const frag = st.endpoints.get(key);
      if (!frag) continue;
      this.setOutput(frag, { flows: [], groups: [] });
      st.endpoints.delete(key);
    }
  }

  private renderSecurityGroups(
    si: number,
    stage: StageRenderer,
    m: Model,
    eps: Map<string, LocalEndpoint>,
    dirtyEps: Set<string>,
    removedEps: string[],
    globalsChanged: boolean,
    changedGroups: Set<string>,
  ): void {
    const bare: Model = { ...m, endpoints: [], services: [], securityGroups: new Map() };
    let st = this.stages[si] as SecurityGroupState | undefined;
    const all = !st || globalsChanged;
    if (!st) {
      st = {
        kind: 'per-security-group',
        base: new Set(),
        rest: new Fragment(si, 3, { value: 0 }),
        clauseFrag: new Fragment(si, 2, { value: 0 }),
        groups: new Map(),
        missing: new Map(),
        members: new Map(),
        ruleKeys: new Map(),
      };
      this.stages[si] = st;
    }
    if (all) {
      const out = stage.render(bare);
      st.base = new Set(out.flows.map(flowKey));
      this.setOutput(st.rest, out);
    }

    // Memberships follow the endpoints that changed; their groups (old and new) are touched.
    const touched = new Set<string>(changedGroups);
    const missingToCheck = new Set<string>();
    const leave = (key: string): void => {
      const prev = this.endpoints.get(key);
      if (!prev) return;
      for (const name of prev.securityGroups) {
        const ms = st.members.get(name);
        const n = ms?.get(key) ?? 0;
        if (!ms || n === 0) continue;
        if (n === 1) ms.delete(key);
        else ms.set(key, n - 1);
        if (ms.size === 0) st.members.delete(name);
        touched.add(name);
      }
    };
    for (const key of removedEps) {
      leave(key);
      missingToCheck.add(key);
    }
    for (const key of dirtyEps) {
      leave(key);
      const ep = eps.get(key) as LocalEndpoint;
      for (const name of ep.securityGroups) {
        let ms = st.members.get(name);
        if (!ms) {
          ms = new Map();
          st.members.set(name, ms);
        }
        ms.set(key, (ms.get(key) ?? 0) + 1);
        touched.add(name);
      }
      missingToCheck.add(key);
    }
    // A group file that appeared or went away changes which members are isolated by a missing group.
    for (const name of changedGroups)
      if (m.securityGroups.has(name) !== (this.last?.securityGroups.has(name) ?? false))
        for (const key of st.members.get(name)?.keys() ?? []) missingToCheck.add(key);
    if (all) {
      for (const name of st.members.keys()) touched.add(name);
      for (const key of eps.keys()) missingToCheck.add(key);
    }

    // A re-read file with the same content: keep its state, with the new reference for the next comparison.
    for (const [name, g] of st.groups) {
      const file = m.securityGroups.get(name);
      if (file && file !== g.file && !changedGroups.has(name)) g.file = file;
    }
    if (st.whole && touched.size === 0 && missingToCheck.size === 0) return;

    const isActive = (name: string): boolean =>
      (st.members.get(name)?.size ?? 0) > 0 && m.securityGroups.has(name);

    // Ids per group must be the stage's (allocated over every active group); they differ only on a hash collision.
    // They depend on the set of rule keys only, so they are checked again only when that set changed.
    let keysChanged = false;
    for (const name of touched) {
      const file = isActive(name) ? m.securityGroups.get(name) : undefined;
      const sig = file?.rules.map((r) => r.direction).join(',');
      if (sig === st.ruleKeys.get(name)) continue;
      keysChanged = true;
      if (sig === undefined) st.ruleKeys.delete(name);
      else st.ruleKeys.set(name, sig);
    }
    let collision = false;
    if (keysChanged || st.whole) {
      const activeFiles = [...st.members.keys()]
        .filter(isActive)
        .map((n) => m.securityGroups.get(n) as SecurityGroupFile);
      const stageIds = conjunctionIds(activeFiles);
      for (const g of activeFiles) {
        const own = st.groups.get(g.name)?.file === g ? st.groups.get(g.name)?.ownIds : undefined;
        for (const [k, id] of own ?? conjunctionIds([g]))
          if (stageIds.get(k) !== id) collision = true;
      }
    }
    if (collision) {
      if (!st.whole) {
        for (const g of st.groups.values()) this.setGroupOutput(g.frag, []);
        st.groups.clear();
        for (const f of st.missing.values()) this.setOutput(f, { flows: [], groups: [] });
        st.missing.clear();
        this.setOutput(st.rest, { flows: [], groups: [] });
        st.whole = new Fragment(si, 0, { value: 0 });
      }
      this.setOutput(st.whole, stage.render(m));
      return;
    }
    if (st.whole) {
      // Back from a collision: everything per group again.
      this.setOutput(st.whole, { flows: [], groups: [] });
      st.whole = undefined;
      this.setOutput(st.rest, stage.render(bare));
      for (const name of st.members.keys()) touched.add(name);
      for (const key of eps.keys()) missingToCheck.add(key);
    }

    for (const name of touched) {
      const existing = st.groups.get(name);
      if (!isActive(name)) {
        if (existing) {
          this.setGroupOutput(existing.frag, []);
          st.groups.delete(name);
        }
        continue;
      }
      const file = m.securityGroups.get(name) as SecurityGroupFile;
      const members: LocalEndpoint[] = [];
      const byPos = [...(st.members.get(name) ?? new Map<string, number>())].sort(
        ([a], [b]) => (this.positions.get(a)?.value ?? 0) - (this.positions.get(b)?.value ?? 0),
      );
      for (const [key, n] of byPos) {
        const ep = eps.get(key) as LocalEndpoint;
        for (let i = 0; i < n; i++) members.push({ ...ep, securityGroups: [name] });
      }
      const g: GroupState = existing ?? {
        file,
        ownIds: conjunctionIds([file]),
        frag: new Fragment(si, 0, { value: 0 }),
      };
      if (g.file !== file) {
        g.file = file;
        g.ownIds = conjunctionIds([file]);
      }
      st.groups.set(name, g);
      const out = stage.render({
        ...bare,
        endpoints: members,
        securityGroups: new Map([[name, file]]),
      });
      this.setGroupOutput(
        g.frag,
        out.flows.filter((f) => !st.base.has(flowKey(f))),
      );
    }

    for (const key of missingToCheck) {
      const ep = eps.get(key);
      const missing = ep?.securityGroups.filter((n) => !m.securityGroups.has(n)) ?? [];
      let frag = st.missing.get(key);
      if (missing.length === 0 || !ep) {
        if (frag) {
          this.setOutput(frag, { flows: [], groups: [] });
          st.missing.delete(key);
        }
        continue;
      }
      if (!frag) {
        frag = new Fragment(si, 1, this.positions.get(key) ?? { value: 0 });
        st.missing.set(key, frag);
      }
      const out = stage.render({ ...bare, endpoints: [{ ...ep, securityGroups: missing }] });
      this.setOutput(frag, {
        flows: out.flows.filter((f) => !st.base.has(flowKey(f))),
        groups: [],
      });
    }
  }

  /** A group fragment: merged conjunction clauses go to the clause table, the rest to slots. */
  private setGroupOutput(frag: Fragment, flows: Flow[]): void {
    const plain: Flow[] = [];
    const clauses = new Map<string, { proto: Flow; tokens: string[] }>();
    for (const f of flows) {
      if (!onlyConjunctions.test(f.actions)) {
        plain.push(f);
        continue;
      }
      const key = `${slotKey(f)}\u0000${f.feature}`;
      const tokens = f.actions.match(conjunctionToken) ?? [];
      const prev = clauses.get(key);
      if (prev) prev.tokens.push(...tokens);
      else clauses.set(key, { proto: f, tokens });
    }
    for (const [key, c] of frag.clauses) this.clauseTokens(key, c.proto, c.tokens, -1);
    for (const [key, c] of clauses) this.clauseTokens(key, c.proto, c.tokens, 1);
    frag.clauses = clauses;
    this.setOutput(frag, { flows: plain, groups: [] });
  }

  private clauseTokens(key: string, proto: Flow, tokens: string[], by: 1 | -1): void {
    let c = this.clauses.get(key);
    if (!c) {
      c = { proto, tokens: new Map() };
      this.clauses.set(key, c);
    }
    for (const t of tokens) {
      const n = (c.tokens.get(t) ?? 0) + by;
      if (n > 0) c.tokens.set(t, n);
      else c.tokens.delete(t);
      // Only a token that appeared or went away changes the merged flow.
      if (n === 0 || (by === 1 && n === 1)) this.dirtyClauses.add(key);
    }
  }

  private finishClauses(): void {
    const frag = this.clauseFragment();
    for (const key of this.dirtyClauses) {
      const c = this.clauses.get(key);
      const old = this.clauseFlows.get(key);
      const next =
        c && c.tokens.size > 0
          ? { ...c.proto, actions: [...c.tokens.keys()].sort().join(',') }
          : undefined;
      if (old && next && old.actions === next.actions) continue;
      if (old) {
        this.unindex(frag, flowKey(old), old);
        this.clauseFlows.delete(key);
      }
      if (next) {
        this.index(frag, flowKey(next), next, 0);
        this.clauseFlows.set(key, next);
      }
      if (!c || c.tokens.size === 0) this.clauses.delete(key);
    }
    this.dirtyClauses.clear();
  }

  private clauseFragment(): Fragment {
    for (const st of this.stages) if (st?.kind === 'per-security-group') return st.clauseFrag;
    return new Fragment(0, 0, { value: 0 });
  }

  // ---- fragments and slots -------------------------------------------------------------

  private setOutput(frag: Fragment, out: { flows: Flow[]; groups: Group[] }): void {
    const next = new Map<string, Flow>();
    const order = new Map<string, number>();
    out.flows.forEach((f, i) => {
      const k = flowKey(f);
      if (next.has(k)) return;
      next.set(k, f);
      order.set(k, i);
    });
    for (const [k, f] of frag.flows) if (!next.has(k)) this.unindex(frag, k, f);
    for (const [k, f] of next) {
      const idx = order.get(k) as number;
      if (frag.flows.has(k) && frag.order.get(k) === idx) continue;
      this.index(frag, k, f, idx);
    }
    frag.flows = next;
    frag.order = order;

    const groups = new Map(out.groups.map((g) => [g.id, groupSpec(g)]));
    for (const id of frag.groups.keys())
      if (!groups.has(id)) {
        this.groupOwners.get(id)?.delete(frag);
        this.dirtyGroups.add(id);
      }
    for (const [id, text] of groups) {
      if (frag.groups.get(id) === text) continue;
      let owners = this.groupOwners.get(id);
      if (!owners) {
        owners = new Map();
        this.groupOwners.set(id, owners);
      }
      owners.set(frag, text);
      this.dirtyGroups.add(id);
    }
    frag.groups = groups;
  }

  private index(frag: Fragment, key: string, flow: Flow, idx: number): void {
    const sk = slotKey(flow);
    let slot = this.slots.get(sk);
    if (!slot) {
      slot = { entries: new Map() };
      this.slots.set(sk, slot);
    }
    let e = slot.entries.get(key);
    if (!e) {
      e = { flow, key, refs: new Map() };
      slot.entries.set(key, e);
    }
    e.refs.set(frag, idx);
    this.dirtySlots.add(sk);
  }

  private unindex(frag: Fragment, key: string, flow: Flow): void {
    const sk = slotKey(flow);
    const slot = this.slots.get(sk);
    const e = slot?.entries.get(key);
    if (!slot || !e) return;
    e.refs.delete(frag);
    if (e.refs.size === 0) slot.entries.delete(key);
    this.dirtySlots.add(sk);
  }

  private finishSlots(): void {
    // Positions may have moved: a slot with rival contributions is decided again.
    for (const sk of this.contested) this.dirtySlots.add(sk);
    for (const sk of this.dirtySlots) {
      const slot = this.slots.get(sk);
      if (!slot) continue;
      const best = slot.entries.size === 1 ? slot.entries.values().next().value : firstEntry(slot);
      const old = slot.winner;
      if (old?.key !== best?.key) {
        if (old) {
          this.desired.flows.delete(old.cookie);
          if (!this.delta.flowAdds.delete(old.cookie)) this.delta.flowDeletes.add(old.cookie);
        }
        if (best) {
          const spec = flowSpec(best.flow);
          const cookie = cookieOf(this.owner, best.flow.feature, spec);
          const text = `cookie=0x${cookie.toString(16)},${spec}`;
          this.desired.flows.set(cookie, text);
          this.delta.flowDeletes.delete(cookie);
          this.delta.flowAdds.set(cookie, text);
          slot.winner = { key: best.key, flow: best.flow, cookie };
        } else slot.winner = undefined;
      }
      if (slot.entries.size > 1) {
        if (!this.contested.has(sk) || old?.key !== best?.key)
          for (const e of slot.entries.values())
            if (best && e.key !== best.key && e.flow.actions !== best.flow.actions)
              this.newConflicts.push(e.flow);
        this.contested.add(sk);
      } else this.contested.delete(sk);
      if (slot.entries.size === 0) this.slots.delete(sk);
    }
    this.dirtySlots.clear();
  }

  private finishGroups(): void {
    for (const id of this.dirtyGroups) {
      const owners = this.groupOwners.get(id);
      let text: string | undefined;
      let bestFrag: Fragment | undefined;
      for (const [frag, t] of owners ?? [])
        if (!bestFrag || compareRank(frag, 0, bestFrag, 0) < 0) {
          bestFrag = frag;
          text = t;
        }
      if (owners && owners.size === 0) this.groupOwners.delete(id);
      const old = this.desired.groups.get(id);
      if (old === text) continue;
      if (text === undefined) {
        this.desired.groups.delete(id);
        this.delta.groupWrites.delete(id);
        this.delta.groupDeletes.add(id);
      } else {
        this.desired.groups.set(id, text);
        this.delta.groupDeletes.delete(id);
        this.delta.groupWrites.set(id, text);
      }
    }
    this.dirtyGroups.clear();
  }
}
