// Pure desired-vs-actual diff for the APIC sync engine. No I/O: sync.ts
// gathers the actual state, calls planSync(), sends the plan and folds its
// effects back into its cache.
//
// Ownership (as in the original aci-containers apicapi): every MO the
// engine writes carries
//   - a child tagAnnotation key=`aci-containers-controller-tag`,
//     value=`<prefix>-<sha256(owner key)[:32 hex]>`: says which owner key
//     (and so which desired-state entry) the object belongs to, and
//   - the `annotation` property `orchestrator:aci-containers-controller:<prefix>`,
//     which class queries can filter on without fetching tags.
// tagAnnotation (not tagInst) because tagInst is deprecated on APIC 5.x and
// its name cannot carry a key/value pair. An object carrying neither is
// foreign and never modified or deleted.
//
// Diff rules:
// - An attribute not named in the desired MO is not managed (the APIC
//   fills defaults; other tools may set descr etc.).
// - New objects are sent with status "created": if a foreign object already
//   sits at that DN the APIC refuses instead of silently adopting it, and
//   the engine re-reads that subtree and routes around the foreign object.
// - Existing objects on the path to a change are sent as {dn, status:
//   "modified"}: a no-op on an existing object, an error (not a silent
//   creation) on a missing one.
// - Owned objects no longer desired are deleted as a subtree; only the
//   topmost of a deleted subtree is sent, as a `status:"deleted"` child in a
//   POST when its parent's class is known, else as HTTP DELETE.
// - Roots under the same parent are batched into one POST (up to
//   maxObjectsPerPost objects).
import { createHash } from 'node:crypto';
import {
  isUnder,
  lastRn,
  makeMo,
  moAttrs,
  moChildren,
  moClass,
  moDn,
  parentDn,
  type Mo,
} from './mo.ts';
import { portNames, protoNames } from '../../../lib/aci/named-values.ts';

export const ownerTagKey = 'aci-containers-controller-tag';
const tagClasses = new Set(['tagAnnotation', 'tagInst']);

export function tagForKey(prefix: string, key: string): string {
  return `${prefix}-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

export function ownerAnnotation(prefix: string): string {
  return `orchestrator:aci-containers-controller:${prefix}`;
}

export function tagDn(dn: string): string {
  return `${dn}/annotationKey-[${ownerTagKey}]`;
}

const normalizers: Record<string, Array<[string[], Record<string, string> | 'upper']>> = {
  vzEntry: [
    [['dFromPort', 'dToPort', 'sFromPort', 'sToPort'], portNames],
    [['prot'], protoNames],
  ],
  hostprotRule: [
    [['fromPort', 'toPort'], portNames],
    [['protocol'], protoNames],
  ],
  vmmInjectedSvcPort: [
    [['port', 'nodePort'], portNames],
    [['protocol'], protoNames],
  ],
  vnsRedirectDest: [[['mac'], 'upper']],
};

export function normalizeAttrs(cls: string, attrs: Record<string, string>): Record<string, string> {
  const rules = normalizers[cls];
  if (rules === undefined) return attrs;
  const out = { ...attrs };
  for (const [keys, table] of rules) {
    for (const k of keys) {
      const v = out[k];
      if (v === undefined) continue;
      out[k] = table === 'upper' ? v.toUpperCase() : (table[v] ?? v);
    }
  }
  return out;
}

// Container classes whose RN prefix is unambiguous, so a batch can be
// wrapped in its parent without having read the parent.
const wrapperByRn: ReadonlyArray<[RegExp, string]> = [
  [/^uni$/, 'polUni'],
  [/^comp$/, 'compUni'],
  [/^tn-/, 'fvTenant'],
  [/^ap-/, 'fvAp'],
  [/^prov-/, 'compProv'],
  [/^ctrlr-\[/, 'compCtrlr'],
  [/^injcont$/, 'vmmInjectedCont'],
  [/^svcCont$/, 'vnsSvcCont'],
  [/^vmmp-/, 'vmmProvP'],
  [/^ns-\[/, 'vmmInjectedNs'],
];

export interface DesiredNode {
  readonly dn: string;
  readonly cls: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly key: string;
  readonly children: readonly string[];
  readonly isRoot: boolean;
}

export interface DesiredIndex {
  readonly nodes: ReadonlyMap<string, DesiredNode>;
  /** Root DNs per owner key. */
  readonly roots: ReadonlyMap<string, readonly string[]>;
  readonly tags: ReadonlyMap<string, string>;
  /** Nodes per owner key, so an incremental plan only walks its keys. */
  readonly byKey: ReadonlyMap<string, readonly DesiredNode[]>;
  /** DNs claimed by two keys (the first key keeps them). */
  readonly duplicates: readonly string[];
}

export interface ActualObject {
  readonly cls: string;
  readonly attrs: Readonly<Record<string, string>>;
}

/** Actual state as the engine knows it: owned objects and their tags, plus foreign objects met at desired DNs. */
export type ActualState = ReadonlyMap<string, ActualObject>;

export interface SyncConfig {
  readonly prefix: string;
  readonly maxObjectsPerPost?: number;
  /**
   * `annotation` values of other owners whose objects are taken over where
   * they sit at a desired DN (re-annotated and tagged as ours), e.g.
   * acc-provision's `orchestrator:aci-containers-controller`. Never used to
   * delete: an adopted object becomes ours only once it carries our marks.
   */
  readonly adoptAnnotations?: readonly string[];
}

/** The annotation acc-provision and the original controller put on what they create. */
export const accProvisionAnnotation = 'orchestrator:aci-containers-controller';

/** True when a desired DN holds an object of an owner we were told to take over. */
export function isAdoptable(actual: ActualObject | undefined, config: SyncConfig): boolean {
  const annotation = actual?.attrs.annotation;
  return annotation !== undefined && (config.adoptAnnotations ?? []).includes(annotation);
}

/** Flattens desired MO trees, adding the ownership annotation and tag to each. */
export function indexDesired(
  desired: ReadonlyMap<string, readonly Mo[]>,
  prefix: string,
): DesiredIndex {
  const nodes = new Map<string, DesiredNode>();
  const roots = new Map<string, string[]>();
  const tags = new Map<string, string>();
  const duplicates: string[] = [];
  const annotation = ownerAnnotation(prefix);
  for (const key of [...desired.keys()].sort()) {
    const tag = tagForKey(prefix, key);
    tags.set(key, tag);
    const keyRoots: string[] = [];
    const add = (mo: Mo, parent: string, isRoot: boolean): string | undefined => {
      const cls = moClass(mo);
      const dn = isRoot ? (moAttrs(mo).dn ?? '') : moDn(mo, parent);
      if (dn === '') throw new Error(`desired root MO of class ${cls} for key ${key} has no dn`);
      if (nodes.has(dn)) {
        duplicates.push(dn);
        return undefined;
      }
      const attrs: Record<string, string> = {};
      for (const [k, v] of Object.entries(moAttrs(mo)))
        if (k !== 'dn' && k !== 'rn' && k !== 'status') attrs[k] = v;
      const children: string[] = [];
      const isTag = tagClasses.has(cls);
      if (!isTag) attrs.annotation = annotation;
      // Reserve the DN before children so a child cannot claim its parent's DN.
      nodes.set(dn, { dn, cls, attrs: normalizeAttrs(cls, attrs), key, children, isRoot });
      for (const c of moChildren(mo)) {
        const cdn = add(c, dn, false);
        if (cdn !== undefined) children.push(cdn);
      }
      if (!isTag) {
        const tdn = tagDn(dn);
        if (!nodes.has(tdn)) {
          nodes.set(tdn, {
            dn: tdn,
            cls: 'tagAnnotation',
            attrs: { key: ownerTagKey, value: tag },
            key,
            children: [],
            isRoot: false,
          });
          children.push(tdn);
        }
      }
      return dn;
    };
    for (const mo of desired.get(key) ?? []) {
      const dn = add(mo, '', true);
      if (dn !== undefined) keyRoots.push(dn);
    }
    roots.set(key, keyRoots);
  }
  const byKey = new Map<string, DesiredNode[]>();
  for (const n of nodes.values()) {
    const list = byKey.get(n.key);
    if (list === undefined) byKey.set(n.key, [n]);
    else list.push(n);
  }
  return { nodes, roots, tags, byKey, duplicates };
}

/** True when `dn` is ours: annotated with our orchestrator string, or tagged with one of our tags. */
export function isOwned(dn: string, actual: ActualState, prefix: string): boolean {
  const a = actual.get(dn);
  if (a === undefined) return false;
  if (a.cls === 'tagAnnotation')
    return a.attrs.key === ownerTagKey && (a.attrs.value ?? '').startsWith(prefix + '-');
  if (a.attrs.annotation === ownerAnnotation(prefix)) return true;
  const t = actual.get(tagDn(dn));
  return t !== undefined && (t.attrs.value ?? '').startsWith(prefix + '-');
}

export interface PlannedWrite {
  /** POST target DN, or the DN to DELETE. */
  readonly dn: string;
  readonly method: 'POST' | 'DELETE';
  readonly body?: Mo;
  /** Objects carried (created, modified, deleted or passed through). */
  readonly objects: number;
  readonly keys: ReadonlySet<string>;
  /** What the actual state looks like after this write succeeds. */
  readonly set: ReadonlyArray<readonly [string, ActualObject]>;
  readonly remove: readonly string[];
  /** For a batch under a common parent: the same writes one by one, to isolate a failing item. */
  readonly parts?: readonly PlannedWrite[];
}

export interface SyncPlan {
  readonly writes: readonly PlannedWrite[];
  /** Desired DNs held by foreign objects (left untouched). */
  readonly conflicts: readonly string[];
}

type Change =
  { kind: 'create' } | { kind: 'modify'; attrs: Record<string, string> } | { kind: 'foreign' };

/**
 * Plans the writes that bring the owned part of the APIC to the desired
 * state for `scope` (owner keys, or 'all' for a full sync, which also
 * deletes owned objects of keys that no longer exist).
 */
export function planSync(
  index: DesiredIndex,
  actual: ActualState,
  scope: ReadonlySet<string> | 'all',
  config: SyncConfig,
): SyncPlan {
  const { prefix } = config;
  const maxObjects = config.maxObjectsPerPost ?? 1000;
  const inScope = (key: string) => scope === 'all' || scope.has(key);
  // Tag value → owner key, from the scope itself as well: a key just removed from the desired state
  // has no entry in index.tags, and a delete of its objects must still name it (its retry needs it).
  const keysByTag = new Map<string, Set<string>>();
  const addKey = (tag: string, key: string) => {
    const keys = keysByTag.get(tag) ?? new Set<string>();
    keys.add(key);
    keysByTag.set(tag, keys);
  };
  for (const [key, tag] of index.tags) addKey(tag, key);
  const scopeTags = new Set<string>();
  if (scope !== 'all')
    for (const key of scope) {
      const tag = tagForKey(prefix, key);
      scopeTags.add(tag);
      addKey(tag, key);
    }

  // 1. Per desired node: what must change.
  const changes = new Map<string, Change>();
  const conflicts: string[] = [];
  const scopeNodes =
    scope === 'all'
      ? [...index.nodes.values()]
      : [...scope].flatMap((k) => index.byKey.get(k) ?? []);
  for (const node of scopeNodes) {
    const act = actual.get(node.dn);
    if (act === undefined) {
      changes.set(node.dn, { kind: 'create' });
      continue;
    }
    const owned =
      node.cls === 'tagAnnotation'
        ? act.attrs.key === ownerTagKey
        : isOwned(node.dn, actual, prefix) || isAdoptable(act, config);
    if (!owned || act.cls !== node.cls) {
      changes.set(node.dn, { kind: 'foreign' });
      conflicts.push(node.dn);
      continue;
    }
    const diff: Record<string, string> = {};
    for (const [k, v] of Object.entries(node.attrs)) if (act.attrs[k] !== v) diff[k] = v;
    if (Object.keys(diff).length > 0) changes.set(node.dn, { kind: 'modify', attrs: diff });
  }
  // A created parent implies created children, whatever a stale cache says.
  for (const node of scopeNodes) {
    if (changes.get(node.dn)?.kind !== 'create') continue;
    const stack = [...node.children];
    while (stack.length > 0) {
      const d = stack.pop() as string;
      changes.set(d, { kind: 'create' });
      stack.push(...(index.nodes.get(d)?.children ?? []));
    }
  }

  // 2. Owned objects in scope that nobody desires: topmost of each subtree.
  const candidates: string[] = [];
  for (const [dn, a] of actual) {
    if (index.nodes.has(dn) || !isOwned(dn, actual, prefix)) continue;
    const tag = a.cls === 'tagAnnotation' ? a.attrs.value : actual.get(tagDn(dn))?.attrs.value;
    if (scope !== 'all' && (tag === undefined || !scopeTags.has(tag))) continue;
    candidates.push(dn);
  }
  candidates.sort();
  const deletes: string[] = [];
  for (const dn of candidates) {
    const last = deletes[deletes.length - 1];
    if (last !== undefined && isUnder(dn, last)) continue;
    // Under a parent that is itself going away with no desire for it: covered.
    if (deletes.some((d) => isUnder(dn, d))) continue;
    deletes.push(dn);
  }
  const deletesByParent = new Map<string, string[]>();
  for (const dn of deletes) {
    const p = parentDn(dn);
    deletesByParent.set(p, [...(deletesByParent.get(p) ?? []), dn]);
  }

  // 3. Build pruned trees for the desired roots.
  const removedBelow = (dn: string): string[] => [...actual.keys()].filter((d) => isUnder(d, dn));
  const classOf = (dn: string): string | undefined => {
    const known = index.nodes.get(dn)?.cls ?? actual.get(dn)?.cls;
    if (known !== undefined) return known;
    const rn = lastRn(dn);
    return wrapperByRn.find(([re]) => re.test(rn))?.[1];
  };
  interface Built {
    mo: Mo;
    objects: number;
    set: Array<readonly [string, ActualObject]>;
    remove: string[];
    keys: Set<string>;
  }
  /** The owner keys of an owned object, by its tag: a failed delete is retried for them. */
  const ownerKeysOf = (dn: string): Iterable<string> => {
    const tagValue = actual.get(tagDn(dn))?.attrs.value ?? actual.get(dn)?.attrs.value;
    return tagValue === undefined ? [] : (keysByTag.get(tagValue) ?? []);
  };
  const deletedChild = (dn: string, b: Built): Mo => {
    b.objects++;
    for (const key of ownerKeysOf(dn)) b.keys.add(key);
    b.remove.push(...removedBelow(dn));
    return makeMo(actual.get(dn)?.cls ?? 'unknown', { dn, status: 'deleted' });
  };
  // Nested objects are named by RN: the DN is implied by the parent, and the body is smaller.
  const build = (dn: string, b: Built, top = true): Mo | undefined => {
    const node = index.nodes.get(dn);
    if (node === undefined) return undefined;
    // Never tag a foreign object: that would adopt it.
    if (node.cls === 'tagAnnotation' && changes.get(parentDn(dn))?.kind === 'foreign')
      return undefined;
    const ch = changes.get(dn);
    const kids: Mo[] = [];
    for (const c of node.children) {
      const built = build(c, b, false);
      if (built !== undefined) kids.push(built);
    }
    for (const d of deletesByParent.get(dn) ?? []) kids.push(deletedChild(d, b));
    if (ch === undefined && kids.length === 0) return undefined;
    b.objects++;
    b.keys.add(node.key);
    const name: Record<string, string> = top ? { dn } : { rn: lastRn(dn) };
    if (ch?.kind === 'create') {
      b.set.push([dn, { cls: node.cls, attrs: { ...node.attrs, dn } }]);
      return makeMo(node.cls, { ...name, ...node.attrs, status: 'created' }, kids);
    }
    if (ch?.kind === 'modify') {
      const prev = actual.get(dn);
      b.set.push([dn, { cls: node.cls, attrs: { ...(prev?.attrs ?? {}), ...ch.attrs } }]);
      return makeMo(node.cls, { ...name, ...ch.attrs }, kids);
    }
    return makeMo(node.cls, { ...name, status: 'modified' }, kids);
  };

  const writes: PlannedWrite[] = [];
  interface Group {
    cls: string;
    items: Built[];
    objects: number;
  }
  const groups = new Map<string, Group>();
  const addToGroup = (parent: string, b: Built) => {
    const cls = classOf(parent);
    if (cls === undefined || parent === '') {
      writes.push({
        dn: moAttrs(b.mo).dn ?? '',
        method: 'POST',
        body: b.mo,
        objects: b.objects,
        keys: b.keys,
        set: b.set,
        remove: b.remove,
      });
      return;
    }
    const g = groups.get(parent) ?? { cls, items: [], objects: 0 };
    g.items.push(b);
    g.objects += b.objects;
    groups.set(parent, g);
  };
  const rootKeys = [...index.roots.keys()].filter(inScope).sort();
  for (const key of rootKeys) {
    for (const root of index.roots.get(key) ?? []) {
      const b: Built = { mo: {}, objects: 0, set: [], remove: [], keys: new Set() };
      const mo = build(root, b);
      if (mo === undefined) continue;
      b.mo = mo;
      addToGroup(parentDn(root), b);
    }
  }
  // Deletes whose parent is not a desired node: batch under the parent, or DELETE.
  for (const [parent, dns] of deletesByParent) {
    const parentNode = index.nodes.get(parent);
    if (parentNode !== undefined && inScope(parentNode.key)) continue;
    for (const dn of dns) {
      const keys = new Set(ownerKeysOf(dn));
      const b: Built = { mo: {}, objects: 0, set: [], remove: [], keys };
      if (classOf(parent) !== undefined && parent !== '' && actual.get(dn) !== undefined) {
        b.mo = deletedChild(dn, b);
        addToGroup(parent, b);
      } else {
        writes.push({ dn, method: 'DELETE', objects: 1, keys, set: [], remove: removedBelow(dn) });
      }
    }
  }
  for (const [parent, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    let batch: Built[] = [];
    let count = 0;
    const solo = (only: Built): PlannedWrite => {
      const dn = moAttrs(only.mo).dn ?? '';
      return {
        dn,
        method: 'POST',
        body: only.mo,
        objects: only.objects,
        keys: only.keys,
        set: only.set,
        remove: only.remove,
      };
    };
    const flush = () => {
      if (batch.length === 0) return;
      // Wrapping a lone root costs an object; post it to its own DN instead.
      if (batch.length === 1) {
        writes.push(solo(batch[0] as Built));
      } else {
        const body = makeMo(
          g.cls,
          { dn: parent, status: 'modified' },
          batch.map((x) => x.mo),
        );
        writes.push({
          dn: parent,
          method: 'POST',
          body,
          objects: count + 1,
          keys: new Set(batch.flatMap((x) => [...x.keys])),
          set: batch.flatMap((x) => x.set),
          remove: batch.flatMap((x) => x.remove),
          parts: batch.map(solo),
        });
      }
      batch = [];
      count = 0;
    };
    for (const item of g.items) {
      if (count + item.objects > maxObjects) flush();
      batch.push(item);
      count += item.objects;
    }
    flush();
  }
  return { writes, conflicts };
}

/** Folds a successful write into the actual state. */
export function applyWrite(actual: Map<string, ActualObject>, w: PlannedWrite): void {
  for (const dn of w.remove) actual.delete(dn);
  for (const [dn, obj] of w.set) actual.set(dn, obj);
}

/** Actual-state entries from a query result (nested children flattened). */
export function flattenActual(
  imdata: readonly Mo[],
  into: Map<string, ActualObject> = new Map(),
): Map<string, ActualObject> {
  const visit = (mo: Mo, parent: string) => {
    const cls = moClass(mo);
    const attrs = moAttrs(mo);
    let dn: string;
    try {
      dn = moDn(mo, parent);
    } catch {
      return;
    }
    const { status: _status, ...rest } = attrs;
    into.set(dn, { cls, attrs: { ...rest, dn } });
    for (const c of moChildren(mo)) visit(c, dn);
  };
  for (const mo of imdata) visit(mo, '');
  return into;
}
