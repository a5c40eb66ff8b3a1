// The management information tree (MIT) of the simulated APIC: MOs keyed by
// DN, POST/DELETE with APIC semantics and the query options of
// /api/mo and /api/class. No I/O here; simulator.ts puts HTTP around it.
//
// Semantics follow the APIC REST API Configuration Guide:
// - "Creating, updating and deleting managed objects": POST creates or
//   modifies (attributes are merged); `status` = created | modified |
//   created,modified | deleted selects the operation per object; a POST is
//   one transaction, so any error leaves the tree unchanged.
// - The DN of an object is its parent's DN plus its RN, and the RN is made
//   of the class's prefix and naming properties; a dn that disagrees with
//   the naming properties or the URL is a 400 error.
// - "Applying query scoping filters": query-target, target-subtree-class,
//   query-target-filter, rsp-subtree, rsp-subtree-class, rsp-prop-include,
//   order-by, page and page-size.
import {
  lastRn,
  parentDn,
  splitDn,
  type Mo,
  type MoAttributes,
} from '../../agents/controller/apic/mo.ts';
import {
  buildRn,
  builtinObjects,
  checkValue,
  classes,
  classForRn,
  defaultsOf,
  isKnownClass,
  namingProps,
  parseRn,
  readOnlyProps,
  type ClassMeta,
} from './classes.ts';
import { ApicError, apicErrors } from './errors.ts';
import { matchesFilter, parseFilter, type FilterExpr, FilterSyntaxError } from './filter.ts';

export { ApicError } from './errors.ts';

export interface Node {
  readonly cls: string;
  readonly dn: string;
  attrs: Record<string, string>;
  readonly children: Set<string>;
}

export type ChangeStatus = 'created' | 'modified' | 'deleted';

/** One object-level change; what a subscription notification carries. */
export interface Change {
  readonly cls: string;
  readonly dn: string;
  readonly status: ChangeStatus;
  /** Attributes sent on the websocket (all for created, changed ones for modified, naming for deleted). */
  readonly attrs: Record<string, string>;
  /** Full attributes before and after, for matching subscriptions. */
  readonly before?: Record<string, string>;
  readonly after?: Record<string, string>;
}

export interface QueryOptions {
  readonly queryTarget: 'self' | 'children' | 'subtree';
  readonly targetSubtreeClass?: ReadonlySet<string>;
  readonly filter?: FilterExpr;
  /** Filters the objects of the response subtree (children and below). */
  readonly subtreeFilter?: FilterExpr;
  readonly rspSubtree: 'no' | 'children' | 'full';
  readonly rspSubtreeClass?: ReadonlySet<string>;
  readonly rspPropInclude: 'all' | 'naming-only' | 'config-only';
  readonly orderBy?: { cls: string; prop: string; desc: boolean };
  readonly page?: number;
  readonly pageSize?: number;
}

/** Parses the query string of /api/mo and /api/class into QueryOptions (400 on bad input). */
export function parseQueryOptions(params: URLSearchParams): QueryOptions {
  const oneOf = <T extends string>(name: string, allowed: readonly T[], dflt: T): T => {
    const v = params.get(name);
    if (v === null) return dflt;
    if (!(allowed as readonly string[]).includes(v)) {
      throw new ApicError(
        400,
        '400',
        `Invalid value '${v}' for ${name}, expected one of ${allowed.join(', ')}`,
      );
    }
    return v as T;
  };
  const classSet = (name: string): Set<string> | undefined => {
    const v = params.get(name);
    if (v === null || v === '') return undefined;
    const set = new Set(
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    );
    // A real class without instances here is fine (the APIC just finds none).
    for (const c of set) if (!isKnownClass(c)) throw apicErrors.unknownClass(c);
    return set;
  };
  const filterParam = (name: string): FilterExpr | undefined => {
    const ft = params.get(name);
    if (ft === null || ft === '') return undefined;
    try {
      return parseFilter(ft);
    } catch (e) {
      if (e instanceof FilterSyntaxError)
        throw new ApicError(400, '107', `Invalid ${name}: ${e.message}`);
      throw e;
    }
  };
  const filter = filterParam('query-target-filter');
  const subtreeFilter = filterParam('rsp-subtree-filter');
  let orderBy: QueryOptions['orderBy'];
  const ob = params.get('order-by');
  if (ob !== null && ob !== '') {
    const m = /^([A-Za-z0-9]+)\.([A-Za-z0-9]+)(?:\|(asc|desc))?$/.exec(ob);
    if (m === null) throw new ApicError(400, '400', `Invalid order-by '${ob}'`);
    orderBy = { cls: m[1] ?? '', prop: m[2] ?? '', desc: m[3] === 'desc' };
  }
  const int = (name: string): number | undefined => {
    const v = params.get(name);
    if (v === null) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ApicError(400, '400', `Invalid ${name} '${v}'`);
    return n;
  };
  const pageSize = int('page-size');
  if (pageSize === 0) throw new ApicError(400, '400', 'page-size must be positive');
  return {
    queryTarget: oneOf('query-target', ['self', 'children', 'subtree'] as const, 'self'),
    targetSubtreeClass: classSet('target-subtree-class'),
    filter,
    ...(subtreeFilter !== undefined ? { subtreeFilter } : {}),
    // `modified` is for writes (the response lists what changed); a query treats it as `no`.
    rspSubtree: ((v) => (v === 'modified' ? 'no' : v))(
      oneOf('rsp-subtree', ['no', 'children', 'full', 'modified'] as const, 'no'),
    ),
    rspSubtreeClass: classSet('rsp-subtree-class'),
    rspPropInclude: oneOf(
      'rsp-prop-include',
      ['all', 'naming-only', 'config-only'] as const,
      'all',
    ),
    orderBy,
    page: int('page'),
    pageSize,
  };
}

interface PlannedOp {
  readonly kind: 'create' | 'modify' | 'delete';
  readonly cls: string;
  readonly dn: string;
  readonly attrs: Record<string, string>;
}

const errParse = (text: string) => new ApicError(400, '400', text);

export class MoTree {
  private readonly nodes = new Map<string, Node>();
  private readonly byClass = new Map<string, Set<string>>();
  private modCounter = 0;

  constructor() {
    this.reset();
  }

  reset(): void {
    this.nodes.clear();
    this.byClass.clear();
    this.nodes.set('', { cls: 'topRoot', dn: '', attrs: { dn: '' }, children: new Set() });
    for (const b of builtinObjects) {
      this.insert(b.cls, b.dn, this.withDefaults(classes[b.cls] as ClassMeta, b.dn, b.attrs));
    }
  }

  get size(): number {
    return this.nodes.size - 1;
  }

  get(dn: string): Node | undefined {
    return dn === '' ? undefined : this.nodes.get(dn);
  }

  private withDefaults(
    meta: ClassMeta,
    dn: string,
    attrs: Record<string, string>,
  ): Record<string, string> {
    const out: Record<string, string> = { ...defaultsOf(meta), ...attrs };
    out.dn = dn;
    out.modTs = this.timestamp();
    return out;
  }

  private timestamp(): string {
    this.modCounter++;
    return new Date().toISOString();
  }

  private insert(cls: string, dn: string, attrs: Record<string, string>): void {
    const node: Node = { cls, dn, attrs, children: new Set() };
    this.nodes.set(dn, node);
    this.nodes.get(parentDn(dn))?.children.add(dn);
    let set = this.byClass.get(cls);
    if (set === undefined) this.byClass.set(cls, (set = new Set()));
    set.add(dn);
  }

  private removeSubtree(dn: string, changes: Change[]): void {
    const node = this.nodes.get(dn);
    if (node === undefined) return;
    for (const c of [...node.children]) this.removeSubtree(c, changes);
    this.nodes.delete(dn);
    this.nodes.get(parentDn(dn))?.children.delete(dn);
    this.byClass.get(node.cls)?.delete(dn);
    changes.push({ cls: node.cls, dn, status: 'deleted', attrs: { dn }, before: node.attrs });
  }

  /** HTTP DELETE on /api/mo/{dn}: removes the subtree; deleting a missing DN is a no-op, as on the APIC. */
  delete(rawDn: string): Change[] {
    const dn = this.canonicalDn(rawDn);
    if (dn === '' || dn === 'uni' || dn === 'comp')
      throw new ApicError(400, '400', `cannot delete ${dn || 'root'}`);
    const changes: Change[] = [];
    this.removeSubtree(dn, changes);
    return changes;
  }

  /**
   * POST /api/mo/{urlDn}.json. The body's root is either the object at
   * urlDn, or a child of it (the form acitoolkit uses: POST to
   * /api/mo/uni.json with an fvTenant body).
   */
  post(rawUrlDn: string, body: Mo): Change[] {
    const urlDn = this.canonicalDn(rawUrlDn);
    const planned: PlannedOp[] = [];
    // DN -> class for objects that exist after the planned ops so far.
    const pending = new Map<string, string | null>();
    const classOf = (dn: string): string | undefined => {
      if (pending.has(dn)) return pending.get(dn) ?? undefined;
      if (dn === '') return 'topRoot';
      return this.nodes.get(dn)?.cls;
    };
    const plan = (mo: Mo, parent: string | undefined, isRoot: boolean) => {
      const keys = Object.keys(mo);
      if (keys.length !== 1) throw errParse('Each managed object must have exactly one class');
      const cls = keys[0] as string;
      const meta = classes[cls];
      if (meta === undefined) throw apicErrors.unknownClass(cls);
      const moBody = mo[cls] ?? {};
      if (moBody.attributes === undefined && (moBody.children ?? []).length > 0)
        throw apicErrors.attributesMissing();
      const attrs: MoAttributes = { ...(moBody.attributes ?? {}) };
      for (const [k, v] of Object.entries(attrs)) {
        if (typeof v !== 'string') throw errParse(`property ${k} of ${cls} must be a string`);
      }
      const dn = this.resolveDn(cls, meta, attrs, parent, isRoot ? urlDn : undefined);
      const status = attrs.status ?? '';
      const parts = status === '' ? [] : status.split(',').map((s) => s.trim());
      for (const p of parts) {
        if (!['created', 'modified', 'deleted'].includes(p))
          throw errParse(`invalid status '${status}' for ${dn}`);
      }
      const exists = classOf(dn) !== undefined;
      if (classOf(dn) !== undefined && classOf(dn) !== cls) {
        throw errParse(`${dn} is of class ${classOf(dn)}, not ${cls}`);
      }
      if (parts.includes('deleted')) {
        if (exists) {
          planned.push({ kind: 'delete', cls, dn, attrs: {} });
          for (const d of [...pending.keys()])
            if (d === dn || d.startsWith(dn + '/')) pending.set(d, null);
          pending.set(dn, null);
        }
        return; // children of a deleted object are ignored
      }
      const clean: Record<string, string> = {};
      for (const [k, v] of Object.entries(attrs)) {
        if (k === 'dn' || k === 'rn' || k === 'status') continue;
        const p = meta.props[k];
        if (p === undefined) {
          // Read-only properties every MO carries may be echoed back; anything else is unknown.
          if (readOnlyProps.has(k)) continue;
          if (meta.open === true) {
            clean[k] = v;
            continue;
          }
          throw apicErrors.unknownAttribute(k, cls);
        }
        if (p.readOnly === true) continue;
        clean[k] = checkValue(cls, dn, k, p, v);
      }
      meta.normalize?.(clean);
      if (!exists) {
        if (parts.length === 1 && parts[0] === 'modified') {
          throw new ApicError(400, '102', `configured object ((Dn0)) not found Dn0=${dn}, `);
        }
        const pdn = parentDn(dn);
        const pcls = classOf(pdn) ?? this.planImplicit(pdn, classOf, planned, pending);
        if (pcls === undefined) {
          throw new ApicError(400, '102', `parent object ((Dn0)) of ${dn} not found Dn0=${pdn}, `);
        }
        if (!meta.parents.includes('*') && !meta.parents.includes(pcls)) {
          throw new ApicError(
            400,
            '400',
            `Invalid request. Can not contain child '${lastRn(dn)}' under parent '${pdn}'`,
          );
        }
        const naming = parseRn(meta, lastRn(dn)) ?? {};
        planned.push({ kind: 'create', cls, dn, attrs: { ...naming, ...clean } });
        pending.set(dn, cls);
      } else {
        if (parts.length === 1 && parts[0] === 'created') {
          throw new ApicError(400, '103', `cannot create ${cls}: object ${dn} already exists`);
        }
        planned.push({ kind: 'modify', cls, dn, attrs: clean });
      }
      for (const child of moBody.children ?? []) plan(child, dn, false);
    };
    plan(body, undefined, true);
    return this.apply(planned);
  }

  /**
   * Parents the APIC creates by itself: a missing container whose class has
   * no naming properties (`svcCont`, `userext`, `infra`) is created with the
   * first object placed in it, when its own parent exists.
   */
  private planImplicit(
    dn: string,
    classOf: (dn: string) => string | undefined,
    planned: PlannedOp[],
    pending: Map<string, string | null>,
  ): string | undefined {
    if (dn === '') return undefined;
    const pdn = parentDn(dn);
    const pcls = classOf(pdn) ?? this.planImplicit(pdn, classOf, planned, pending);
    if (pcls === undefined) return undefined;
    const cls = classForRn(pcls, lastRn(dn));
    const meta = cls === undefined ? undefined : classes[cls];
    if (cls === undefined || meta === undefined || meta.naming.length > 0 || meta.rn.includes('{'))
      return undefined;
    planned.push({ kind: 'create', cls, dn, attrs: {} });
    pending.set(dn, cls);
    return cls;
  }

  /**
   * The DN as the APIC names it: each RN rebuilt from its naming values, so
   * `uni/tn-[name]` and `uni/tn-name` are the same object.
   */
  canonicalDn(dn: string): string {
    let parentCls = 'topRoot';
    const out: string[] = [];
    for (const rn of splitDn(dn)) {
      const prefix = out.join('/');
      const here = out.length === 0 ? rn : `${prefix}/${rn}`;
      const known = this.nodes.get(here)?.cls;
      const cls = known ?? classForRn(parentCls, rn);
      const meta = cls === undefined ? undefined : classes[cls];
      const naming = meta === undefined ? undefined : parseRn(meta, rn);
      const rebuilt =
        meta !== undefined && naming !== undefined ? buildRn(meta, naming) : undefined;
      out.push(rebuilt ?? rn);
      parentCls = cls ?? '';
    }
    return out.join('/');
  }

  private resolveDn(
    cls: string,
    meta: ClassMeta,
    attrs: MoAttributes,
    parent: string | undefined,
    urlDn: string | undefined,
  ): string {
    const fromNaming = buildRn(meta, attrs);
    const named = (dn: string): string => {
      // The naming properties present must agree with the RN of the dn.
      const rnProps = parseRn(meta, lastRn(dn));
      if (rnProps === undefined) {
        throw errParse(`dn ${dn} does not follow the naming rule '${meta.rn}' of class ${cls}`);
      }
      for (const p of namingProps(meta)) {
        const v = attrs[p];
        if (v !== undefined && v !== rnProps[p]) {
          throw errParse(`naming property ${p}='${v}' of ${cls} disagrees with dn ${dn}`);
        }
      }
      const rn = buildRn(meta, rnProps) ?? lastRn(dn);
      const pdn = parentDn(dn);
      return pdn === '' ? rn : `${pdn}/${rn}`;
    };
    const dnAttr = attrs.dn === undefined ? undefined : this.canonicalDn(attrs.dn);
    const rnAttr = attrs.rn;
    if (urlDn !== undefined) {
      if (dnAttr !== undefined) {
        if (dnAttr !== urlDn && parentDn(dnAttr) !== urlDn) {
          throw errParse(`dn ${dnAttr} in the payload does not match the URL dn ${urlDn}`);
        }
        return named(dnAttr);
      }
      const rn = rnAttr ?? fromNaming;
      if (rn !== undefined && lastRn(urlDn) !== rn)
        return named(urlDn === '' ? rn : `${urlDn}/${rn}`);
      return named(urlDn);
    }
    const p = parent ?? '';
    if (dnAttr !== undefined) {
      if (parentDn(dnAttr) !== p) throw errParse(`child dn ${dnAttr} is not under its parent ${p}`);
      return named(dnAttr);
    }
    const rn = rnAttr ?? fromNaming;
    if (rn === undefined) {
      throw errParse(
        `cannot name ${cls} under ${p}: naming properties ${namingProps(meta).join(', ')} missing`,
      );
    }
    return named(p === '' ? rn : `${p}/${rn}`);
  }

  private apply(planned: readonly PlannedOp[]): Change[] {
    const changes: Change[] = [];
    for (const op of planned) {
      if (op.kind === 'delete') {
        this.removeSubtree(op.dn, changes);
      } else if (op.kind === 'create') {
        if (this.nodes.has(op.dn)) continue;
        const attrs = this.withDefaults(classes[op.cls] as ClassMeta, op.dn, op.attrs);
        attrs.rn = lastRn(op.dn);
        this.insert(op.cls, op.dn, attrs);
        changes.push({
          cls: op.cls,
          dn: op.dn,
          status: 'created',
          attrs: { ...attrs },
          after: { ...attrs },
        });
      } else {
        const node = this.nodes.get(op.dn);
        if (node === undefined) continue;
        const diff: Record<string, string> = {};
        for (const [k, v] of Object.entries(op.attrs)) if (node.attrs[k] !== v) diff[k] = v;
        if (Object.keys(diff).length === 0) continue;
        const before = { ...node.attrs };
        node.attrs = { ...node.attrs, ...diff, modTs: this.timestamp() };
        changes.push({
          cls: op.cls,
          dn: op.dn,
          status: 'modified',
          attrs: { dn: op.dn, ...diff, modTs: node.attrs.modTs ?? '' },
          before,
          after: { ...node.attrs },
        });
      }
    }
    return changes;
  }

  /** GET /api/mo/{dn}.json */
  queryMo(rawDn: string, opts: QueryOptions): { total: number; imdata: Mo[] } {
    const dn = this.canonicalDn(rawDn);
    const node = this.nodes.get(dn);
    if (node === undefined || dn === '') return { total: 0, imdata: [] };
    return this.finish(this.targets([node], opts), opts);
  }

  /** GET /api/class/{class}.json */
  queryClass(cls: string, opts: QueryOptions): { total: number; imdata: Mo[] } {
    if (!isKnownClass(cls)) throw apicErrors.unknownClass(cls);
    const roots = [...(this.byClass.get(cls) ?? [])].map((dn) => this.nodes.get(dn) as Node);
    return this.finish(this.targets(roots, opts), opts);
  }

  private targets(roots: Node[], opts: QueryOptions): Node[] {
    const out: Node[] = [];
    const visit = (n: Node) => {
      out.push(n);
      for (const c of n.children) visit(this.nodes.get(c) as Node);
    };
    for (const r of roots) {
      if (opts.queryTarget === 'self') out.push(r);
      else if (opts.queryTarget === 'children')
        for (const c of r.children) out.push(this.nodes.get(c) as Node);
      else visit(r);
    }
    return out.filter(
      (n) =>
        (opts.targetSubtreeClass === undefined || opts.targetSubtreeClass.has(n.cls)) &&
        (opts.filter === undefined || matchesFilter(opts.filter, n.cls, n.attrs)),
    );
  }

  private finish(nodes: Node[], opts: QueryOptions): { total: number; imdata: Mo[] } {
    const ob = opts.orderBy;
    nodes.sort((a, b) => {
      if (ob !== undefined) {
        const av = a.cls === ob.cls ? (a.attrs[ob.prop] ?? '') : '';
        const bv = b.cls === ob.cls ? (b.attrs[ob.prop] ?? '') : '';
        if (av !== bv) return (av < bv ? -1 : 1) * (ob.desc ? -1 : 1);
      }
      return a.dn < b.dn ? -1 : a.dn > b.dn ? 1 : 0;
    });
    let page = nodes;
    if (opts.pageSize !== undefined) {
      const start = (opts.page ?? 0) * opts.pageSize;
      page = nodes.slice(start, start + opts.pageSize);
    }
    return { total: nodes.length, imdata: page.map((n) => this.render(n, opts, opts.rspSubtree)) };
  }

  private props(n: Node, opts: QueryOptions): Record<string, string> {
    if (opts.rspPropInclude === 'all') return { ...n.attrs };
    const meta = classes[n.cls];
    const out: Record<string, string> = { dn: n.dn };
    if (meta === undefined) return out;
    if (opts.rspPropInclude === 'naming-only') {
      for (const p of namingProps(meta)) out[p] = n.attrs[p] ?? '';
      return out;
    }
    for (const [k, v] of Object.entries(n.attrs)) {
      const p = meta.props[k];
      const configurable =
        p !== undefined ? p.readOnly !== true : meta.open === true && !readOnlyProps.has(k);
      if (configurable) out[k] = v;
    }
    return out;
  }

  /** Whether an object belongs in the response subtree (rsp-subtree-class, rsp-subtree-filter). */
  private inSubtree(n: Node, opts: QueryOptions): boolean {
    return (
      (opts.rspSubtreeClass === undefined || opts.rspSubtreeClass.has(n.cls)) &&
      (opts.subtreeFilter === undefined || matchesFilter(opts.subtreeFilter, n.cls, n.attrs))
    );
  }

  private wantedBelow(n: Node, opts: QueryOptions): boolean {
    for (const c of n.children) {
      const child = this.nodes.get(c) as Node;
      if (this.inSubtree(child, opts) || this.wantedBelow(child, opts)) return true;
    }
    return false;
  }

  private render(n: Node, opts: QueryOptions, depth: 'no' | 'children' | 'full'): Mo {
    const attributes = this.props(n, opts);
    if (depth === 'no' || n.children.size === 0) return { [n.cls]: { attributes } };
    const children: Mo[] = [];
    // Children come by RN, descending, as the APIC returns them: cisco.aci's
    // targets read them back by position (aci_bd: rsmldsn, rsBDToFhs,
    // igmpIfP; aci_contract_subject: outtmnl before intmnl).
    const byRnDescending = [...n.children].sort((a, b) => {
      const ra = lastRn(a);
      const rb = lastRn(b);
      return ra < rb ? 1 : ra > rb ? -1 : 0;
    });
    for (const c of byRnDescending) {
      const child = this.nodes.get(c) as Node;
      const include =
        this.inSubtree(child, opts) || (depth === 'full' && this.wantedBelow(child, opts));
      if (!include) continue;
      children.push(this.render(child, opts, depth === 'full' ? 'full' : 'no'));
    }
    return children.length > 0
      ? { [n.cls]: { attributes, children } }
      : { [n.cls]: { attributes } };
  }

  /** Every object (without the root), for tests and restarts that keep state. */
  dump(): Array<{ cls: string; dn: string; attrs: Record<string, string> }> {
    return [...this.nodes.values()]
      .filter((n) => n.dn !== '')
      .sort((a, b) => splitDn(a.dn).length - splitDn(b.dn).length || (a.dn < b.dn ? -1 : 1))
      .map((n) => ({ cls: n.cls, dn: n.dn, attrs: { ...n.attrs } }));
  }

  load(objects: ReadonlyArray<{ cls: string; dn: string; attrs: Record<string, string> }>): void {
    this.nodes.clear();
    this.byClass.clear();
    this.nodes.set('', { cls: 'topRoot', dn: '', attrs: { dn: '' }, children: new Set() });
    for (const o of objects) this.insert(o.cls, o.dn, { ...o.attrs });
  }
}
