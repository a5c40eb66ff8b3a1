/**
 * The agent's store of resolved policy: managed objects by URI, changed by
 * policy_resolve replies and policy_update pushes with libopflex's
 * semantics (MOSerializer::deserialize):
 * - replace: the object takes the sent properties, and its sent children
 *   list is the whole truth: stored children it no longer lists are removed
 *   with their subtrees;
 * - merge_children: the sent properties, and children added to the ones
 *   stored (none removed);
 * - delete: the object and its subtree go.
 * Each batch emits one `changed` event with the URIs it touched, so the
 * consumers (the contract resolver, the endpoint declarations) recompute
 * once per message. Disconnects do not touch the store: the node keeps
 * forwarding with the last policy it had.
 *
 * `closure` is the pure walk the client uses to decide what to resolve.
 */
import { EventEmitter } from 'node:events';
import {
  type ManagedObject,
  type ObjectReference,
  type PropertyData,
  isReference,
} from '../../../lib/opflex/mo.ts';

export interface StoreEvents {
  changed: [uris: ReadonlySet<string>];
}

export type StoreOperation =
  | { op: 'replace'; mo: ManagedObject }
  | { op: 'merge'; mo: ManagedObject }
  | { op: 'delete'; uri: string };

export class PolicyStore extends EventEmitter<StoreEvents> {
  private readonly objects = new Map<string, ManagedObject>();

  get size(): number {
    return this.objects.size;
  }

  get(uri: string): ManagedObject | undefined {
    return this.objects.get(uri);
  }

  has(uri: string): boolean {
    return this.objects.has(uri);
  }

  values(): IterableIterator<ManagedObject> {
    return this.objects.values();
  }

  /** The stored children of an object (those it lists and the store has). */
  children(uri: string): ManagedObject[] {
    return (this.objects.get(uri)?.children ?? []).flatMap((c) => {
      const mo = this.objects.get(c);
      return mo ? [mo] : [];
    });
  }

  byClass(subject: string): ManagedObject[] {
    return [...this.objects.values()].filter((o) => o.subject === subject);
  }

  /** A read-only view for pure consumers. */
  snapshot(): ReadonlyMap<string, ManagedObject> {
    return new Map(this.objects);
  }

  /** Applies a batch and emits `changed` once (nothing when nothing changed). */
  apply(ops: readonly StoreOperation[]): ReadonlySet<string> {
    const touched = new Set<string>();
    for (const o of ops) {
      if (o.op === 'delete') this.remove(o.uri, touched);
      else this.put(o.mo, o.op === 'replace', touched);
    }
    if (touched.size > 0) this.emit('changed', touched);
    return touched;
  }

  /** Removes objects that nothing resolved needs any more (the client's unresolve). */
  prune(keep: (uri: string) => boolean): ReadonlySet<string> {
    const touched = new Set<string>();
    for (const uri of [...this.objects.keys()]) if (!keep(uri)) this.remove(uri, touched);
    if (touched.size > 0) this.emit('changed', touched);
    return touched;
  }

  private put(mo: ManagedObject, replaceChildren: boolean, touched: Set<string>): void {
    const before = this.objects.get(mo.uri);
    let children = mo.children;
    if (before) {
      if (replaceChildren) {
        const keep = new Set(mo.children);
        for (const c of before.children) if (!keep.has(c)) this.remove(c, touched);
      } else children = [...new Set([...before.children, ...mo.children])];
    }
    // A child that arrives before (or without) its parent's listing is still attached to it.
    if (mo.parent_uri !== undefined) {
      const parent = this.objects.get(mo.parent_uri);
      if (parent && !parent.children.includes(mo.uri)) {
        this.objects.set(parent.uri, { ...parent, children: [...parent.children, mo.uri] });
        touched.add(parent.uri);
      }
    }
    const next: ManagedObject = { ...mo, children };
    if (before && JSON.stringify(before) === JSON.stringify(next)) return;
    this.objects.set(mo.uri, next);
    touched.add(mo.uri);
  }

  private remove(uri: string, touched: Set<string>): void {
    const mo = this.objects.get(uri);
    if (!mo) return;
    this.objects.delete(uri);
    touched.add(uri);
    for (const c of mo.children) this.remove(c, touched);
    if (mo.parent_uri !== undefined) {
      const parent = this.objects.get(mo.parent_uri);
      if (parent?.children.includes(uri))
        this.objects.set(parent.uri, {
          ...parent,
          children: parent.children.filter((c) => c !== uri),
        });
    }
  }
}

function referencesIn(data: PropertyData, out: ObjectReference[]): void {
  if (isReference(data)) out.push(data);
  else if (Array.isArray(data)) for (const d of data) referencesIn(d, out);
}

/** The reference properties of an object. */
export function referencesOf(mo: ManagedObject): ObjectReference[] {
  const out: ObjectReference[] = [];
  for (const p of mo.properties) referencesIn(p.data, out);
  return out;
}

export interface Closure {
  /** Every URI reachable from the roots (roots, their subtrees, reference targets and theirs). */
  reachable: Set<string>;
  /** Reference targets (and roots) the store does not hold: what to resolve. */
  missing: Map<string, string>;
  /** Reference cycles found, each as the URIs around it; the walk does not follow them twice. */
  loops: string[][];
}

/**
 * Follows children and reference properties from the roots until closed.
 * A reference loop (A → B → A through references) is legal data for the
 * walk, which visits each URI once, but the model has none: a loop means a
 * broken or hostile server, and is reported so the client can say so.
 */
export function closure(
  objects: ReadonlyMap<string, ManagedObject>,
  roots: ReadonlyMap<string, string>,
): Closure {
  const reachable = new Set<string>();
  const missing = new Map<string, string>();
  const loops: string[][] = [];
  const onPath: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visitRef = (uri: string, subject: string): void => {
    const s = state.get(uri);
    if (s === 'open') {
      loops.push([...onPath.slice(onPath.indexOf(uri)), uri]);
      return;
    }
    if (s === 'done') return;
    const mo = objects.get(uri);
    if (!mo) {
      reachable.add(uri);
      missing.set(uri, subject);
      state.set(uri, 'done');
      return;
    }
    state.set(uri, 'open');
    onPath.push(uri);
    // The object's subtree came with it; references anywhere in it are followed.
    const stack = [mo];
    const inTree = new Set<string>();
    while (stack.length > 0) {
      const cur = stack.pop() as ManagedObject;
      if (inTree.has(cur.uri)) continue;
      inTree.add(cur.uri);
      reachable.add(cur.uri);
      for (const ref of referencesOf(cur)) visitRef(ref.reference_uri, ref.subject);
      for (const c of cur.children) {
        const child = objects.get(c);
        if (child) stack.push(child);
      }
    }
    onPath.pop();
    state.set(uri, 'done');
  };
  for (const [uri, subject] of roots) visitRef(uri, subject);
  return { reachable, missing, loops };
}
