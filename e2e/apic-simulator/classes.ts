// The class model of the simulated APIC: model/classes.json, generated from
// APIC class metadata (model/generate.ts), plus the classes transcribed in
// model/supplement.ts. For each class: its RN format and naming properties,
// the classes that may contain it, and its properties with type,
// enumeration, range, pattern and default. Values are checked and stored the
// way the APIC stores them (names for enumerations, `yes`/`no` for booleans,
// upper-case MACs).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ipaddr from 'ipaddr.js';
import { apicErrors } from './errors.ts';
import {
  commonProps,
  otherKnownClasses,
  protoNames,
  readOnlyProps,
  supplement,
} from './model/supplement.ts';
import type { ModelClass, ModelFile, ModelProp } from './model/types.ts';

export { readOnlyProps } from './model/supplement.ts';

export interface ClassMeta extends ModelClass {
  readonly normalize?: (attrs: Record<string, string>) => void;
}

const modelFile = JSON.parse(
  readFileSync(fileURLToPath(new URL('./model/classes.json', import.meta.url)), 'utf8'),
) as ModelFile;

/**
 * The APIC's names of well-known L4 ports, from its class model: every port
 * property has the same type (l4:Port), and the metadata carries it on
 * netflowExporterPol.dstPort (vzEntry and hostprotRule are transcribed in the
 * supplement). Not the controller's table, so that a port the controller
 * fails to name is seen as drift here, as on an APIC.
 */
export const modelPortNames: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(modelFile.classes.netflowExporterPol?.props.dstPort?.values ?? {}).filter(
    ([value]) => /^\d+$/.test(value),
  ),
);
if (Object.keys(modelPortNames).length === 0)
  throw new Error('the class model has no port names (netflowExporterPol.dstPort)');

function fromSupplement(name: string): ClassMeta {
  const s = supplement[name];
  if (s === undefined) throw new Error(`no supplement class ${name}`);
  const props: Record<string, ModelProp> = {};
  const naming = namingOfTemplate(s.rn);
  const withCommon = s.bare !== true && (s.rn.includes('{') || Object.keys(s.props).length > 0);
  const configurable = { ...(withCommon ? commonProps : {}), ...s.props };
  for (const [k, d] of Object.entries(configurable)) {
    const named = s.namedNumbers?.[k];
    if (named !== undefined) {
      // A number, stored under its name when it has one; the names are accepted as given too.
      const table = named === 'port' ? modelPortNames : protoNames;
      const names = Object.values(table);
      props[k] = {
        type: named === 'port' ? 'scalar:Uint16' : 'scalar:Uint8',
        default: d,
        values: { ...table, ...Object.fromEntries(names.map((n) => [n, n])) },
        ...(naming.includes(k) ? { naming: true as const } : {}),
      };
      continue;
    }
    const flags = s.bitmasks?.[k];
    const values = flags ?? s.values?.[k];
    props[k] = {
      type: flags !== undefined ? 'scalar:Bitmask32' : 'string:Basic',
      default: d,
      ...(naming.includes(k) ? { naming: true as const } : {}),
      ...(values !== undefined ? { values: Object.fromEntries(values.map((v) => [v, v])) } : {}),
    };
  }
  for (const k of readOnlyProps) props[k] ??= { type: 'string:Basic', readOnly: true };
  return {
    rn: s.rn,
    naming,
    parents: [...s.parents],
    source: 'supplement',
    open: true,
    props,
    ...(s.normalize !== undefined ? { normalize: s.normalize } : {}),
  };
}

function buildClasses(): Record<string, ClassMeta> {
  const out: Record<string, ClassMeta> = { ...modelFile.classes };
  for (const name of Object.keys(supplement)) {
    const generated = out[name];
    if (generated === undefined) out[name] = fromSupplement(name);
    else {
      // Only containment may be added: the supplement's parents complete the
      // generated ones (containers the jsonmeta sources do not carry).
      const extra = supplement[name]?.parents ?? [];
      out[name] = { ...generated, parents: [...new Set([...generated.parents, ...extra])] };
    }
  }
  return out;
}

export const classes: Readonly<Record<string, ClassMeta>> = buildClasses();

/**
 * Classes the public metadata names (containment, relations, super- and
 * subclasses) that the simulator does not model: they exist on an APIC, so
 * naming them in a query is fine; they simply have no instances here.
 */
export const knownUnmodelledClasses: ReadonlySet<string> = new Set([
  ...(modelFile.otherClasses ?? []),
  ...otherKnownClasses,
]);

export function isKnownClass(cls: string): boolean {
  return cls in classes || knownUnmodelledClasses.has(cls);
}

const childrenOf = new Map<string, string[]>();
const anywhere: string[] = [];
for (const [name, meta] of Object.entries(classes)) {
  for (const p of meta.parents) {
    if (p === '*') anywhere.push(name);
    else {
      const list = childrenOf.get(p) ?? [];
      list.push(name);
      childrenOf.set(p, list);
    }
  }
}

/** The APIC release the simulator answers as (aaaLogin, topSystem). */
export const apicVersion = '5.2(7f)';

/** Objects every APIC has out of the box (the simulator's empty state). */
export const builtinObjects: ReadonlyArray<{
  cls: string;
  dn: string;
  attrs: Record<string, string>;
}> = [
  { cls: 'polUni', dn: 'uni', attrs: {} },
  { cls: 'compUni', dn: 'comp', attrs: {} },
  { cls: 'infraInfra', dn: 'uni/infra', attrs: {} },
  { cls: 'aaaUserEp', dn: 'uni/userext', attrs: {} },
  { cls: 'aaaUser', dn: 'uni/userext/user-admin', attrs: { name: 'admin' } },
  { cls: 'fvTenant', dn: 'uni/tn-common', attrs: { name: 'common' } },
  { cls: 'fvTenant', dn: 'uni/tn-infra', attrs: { name: 'infra' } },
  { cls: 'fvAp', dn: 'uni/tn-infra/ap-access', attrs: { name: 'access' } },
  { cls: 'fvAEPg', dn: 'uni/tn-infra/ap-access/epg-default', attrs: { name: 'default' } },
  { cls: 'infraSetPol', dn: 'uni/infra/settings', attrs: {} },
  { cls: 'fvTenant', dn: 'uni/tn-mgmt', attrs: { name: 'mgmt' } },
  { cls: 'vmmProvP', dn: 'uni/vmmp-Kubernetes', attrs: { vendor: 'Kubernetes' } },
  { cls: 'vmmProvP', dn: 'uni/vmmp-VMware', attrs: { vendor: 'VMware' } },
  { cls: 'compProv', dn: 'comp/prov-Kubernetes', attrs: { name: 'Kubernetes' } },
  { cls: 'fabricTopology', dn: 'topology', attrs: {} },
  { cls: 'fabricPod', dn: 'topology/pod-1', attrs: { id: '1' } },
  {
    cls: 'fabricNode',
    dn: 'topology/pod-1/node-1',
    attrs: { id: '1', name: 'apic1', role: 'controller' },
  },
  {
    cls: 'topSystem',
    dn: 'topology/pod-1/node-1/sys',
    attrs: {
      id: '1',
      name: 'apic1',
      role: 'controller',
      podId: '1',
      version: apicVersion,
      fabricDomain: 'simulated',
    },
  },
];

interface RnToken {
  readonly literal?: string;
  readonly prop?: string;
}

function tokenize(template: string): RnToken[] {
  const out: RnToken[] = [];
  const re = /\{([A-Za-z0-9]+)\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) out.push({ literal: template.slice(last, m.index) });
    out.push({ prop: m[1] });
    last = m.index + m[0].length;
  }
  if (last < template.length) out.push({ literal: template.slice(last) });
  return out;
}

function namingOfTemplate(template: string): string[] {
  return tokenize(template).flatMap((t) => (t.prop !== undefined ? [t.prop] : []));
}

export function namingProps(meta: ClassMeta): string[] {
  return namingOfTemplate(meta.rn);
}

/** Builds the RN from naming properties; undefined when one is missing. */
export function buildRn(meta: ClassMeta, attrs: Record<string, string>): string | undefined {
  let rn = '';
  const tokens = tokenize(meta.rn);
  for (const [i, t] of tokens.entries()) {
    if (t.literal !== undefined) rn += t.literal;
    else if (t.prop !== undefined) {
      const v = attrs[t.prop];
      if (v === undefined || v === '') return undefined;
      // A value with a slash is bracketed so the DN stays splittable, as the APIC does.
      const bracketed = tokens[i - 1]?.literal?.endsWith('[') === true;
      rn += !bracketed && v.includes('/') ? `[${v}]` : v;
    }
  }
  return rn;
}

/**
 * Recovers naming properties from an RN; undefined when it does not fit the
 * template. A value may be written in brackets (`tn-[name]`), as the APIC
 * accepts for any naming value.
 */
export function parseRn(meta: ClassMeta, rn: string): Record<string, string> | undefined {
  let pattern = '^';
  const props: string[] = [];
  for (const t of tokenize(meta.rn)) {
    if (t.literal !== undefined) pattern += t.literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (t.prop !== undefined) {
      props.push(t.prop);
      pattern += '(.+?)';
    }
  }
  const m = new RegExp(pattern + '$').exec(rn);
  if (m === null) return undefined;
  const out: Record<string, string> = {};
  props.forEach((p, i) => {
    const v = m[i + 1] ?? '';
    out[p] = /^\[.*\]$/.test(v) && !meta.rn.includes(`[{${p}}]`) ? v.slice(1, -1) : v;
  });
  return out;
}

/** The class whose RN format an RN under a parent of class parentCls fits (longest literal prefix wins). */
export function classForRn(parentCls: string, rn: string): string | undefined {
  let best: { cls: string; score: number } | undefined;
  for (const cls of [...(childrenOf.get(parentCls) ?? []), ...anywhere]) {
    const meta = classes[cls] as ClassMeta;
    if (parseRn(meta, rn) === undefined) continue;
    const score = tokenize(meta.rn)[0]?.literal?.length ?? 0;
    if (best === undefined || score > best.score) best = { cls, score };
  }
  return best?.cls;
}

/** Default values of a class's configurable properties. */
export function defaultsOf(meta: ClassMeta): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, p] of Object.entries(meta.props)) {
    if (p.readOnly === true || p.secure === true) continue;
    out[k] = p.default ?? '';
  }
  return out;
}

const numericTypes = /^scalar:(Uint\d+|Sint\d+|UByte|Enum\d+)$/;

function inRange(p: ModelProp, n: number): boolean {
  return (p.min === undefined || n >= p.min) && (p.max === undefined || n <= p.max);
}

function isAddress(v: string): boolean {
  const [addr, len, ...rest] = v.split('/');
  if (rest.length > 0 || addr === undefined || !ipaddr.isValid(addr)) return false;
  if (len === undefined) return true;
  const max = ipaddr.parse(addr).kind() === 'ipv4' ? 32 : 128;
  return /^\d+$/.test(len) && Number(len) <= max;
}

/**
 * Checks one property value against the model and returns it as the APIC
 * stores it. Enumerated values outside the enumeration are error 120; values
 * failing a type, range, length or pattern are error 801.
 */
export function checkValue(
  cls: string,
  dn: string,
  prop: string,
  p: ModelProp,
  value: string,
): string {
  const values = p.values;
  if (values !== undefined) {
    if (p.type.startsWith('scalar:Bitmask')) {
      const parts = value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const names = new Set<string>();
      for (const part of parts) {
        const name = values[part];
        if (name === undefined) throw apicErrors.unknownValue(value, prop, cls, dn);
        names.add(name);
      }
      const order = [...new Set(Object.values(values))];
      return order.filter((n) => names.has(n)).join(',');
    }
    const name = values[value];
    if (name !== undefined) return name;
    // Enumerations and booleans accept only their values; other types name a
    // few special values (`unspecified` ports, `not-applicable` MACs) and
    // otherwise take any value of their type.
    if (/^scalar:(Enum\d+|Bool)$/.test(p.type)) {
      if (/^-?\d+$/.test(value) && p.min !== undefined) {
        if (inRange(p, Number(value))) return String(Number(value));
        throw apicErrors.failedValidation(prop, dn, value);
      }
      throw apicErrors.unknownValue(value, prop, cls, dn);
    }
  }
  if (p.type.startsWith('string:')) {
    const emptyAllowed = value === '' && (p.min ?? 0) === 0;
    if (!emptyAllowed) {
      const len = [...value].length;
      const patternOk =
        p.patterns === undefined || p.patterns.some((re) => new RegExp(re).test(value));
      if (!inRange(p, len) || !patternOk) throw apicErrors.failedValidation(prop, dn, value);
    }
    return value;
  }
  if (numericTypes.test(p.type)) {
    if (!/^-?\d+$/.test(value) || !inRange(p, Number(value)))
      throw apicErrors.failedValidation(prop, dn, value);
    return String(Number(value));
  }
  if (p.type === 'address:Ip') {
    if (value !== '' && !isAddress(value)) throw apicErrors.failedValidation(prop, dn, value);
    return value;
  }
  if (p.type === 'address:MAC') {
    if (!/^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$/.test(value))
      throw apicErrors.failedValidation(prop, dn, value);
    return value.toUpperCase().replaceAll('-', ':');
  }
  return value;
}
