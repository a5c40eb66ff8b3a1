// Parser and evaluator for APIC query-target-filter expressions, as described
// in the APIC REST API Configuration Guide, "Composing Query Filter
// Expressions": `op(class.prop,"value")` for eq, ne, lt, gt, le, ge, wcard,
// `bw(class.prop,"lo","hi")`, and the logical and(...), or(...), not(...).
// A condition on another class than the object's does not match it, so
// `ne(fvBD.name,"x")` is false for an fvTenant (the APIC only applies a
// property condition to objects of that class).

export type FilterExpr =
  | { readonly op: 'and' | 'or'; readonly args: readonly FilterExpr[] }
  | { readonly op: 'not'; readonly arg: FilterExpr }
  | {
      readonly op: 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge' | 'wcard';
      readonly cls: string;
      readonly prop: string;
      readonly value: string;
    }
  | {
      readonly op: 'bw';
      readonly cls: string;
      readonly prop: string;
      readonly lo: string;
      readonly hi: string;
    };

export class FilterSyntaxError extends Error {}

const comparisons = new Set(['eq', 'ne', 'lt', 'gt', 'le', 'ge', 'wcard']);

export function parseFilter(text: string): FilterExpr {
  let pos = 0;
  const fail = (msg: string): never => {
    throw new FilterSyntaxError(`${msg} at position ${pos} in filter '${text}'`);
  };
  const skipWs = () => {
    while (pos < text.length && /\s/.test(text[pos] ?? '')) pos++;
  };
  const expect = (ch: string) => {
    skipWs();
    if (text[pos] !== ch) fail(`expected '${ch}'`);
    pos++;
  };
  const ident = (): string => {
    skipWs();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(pos));
    if (m === null) return fail('expected a name');
    pos += m[0].length;
    return m[0];
  };
  const value = (): string => {
    skipWs();
    if (text[pos] === '"') {
      pos++;
      let out = '';
      while (pos < text.length && text[pos] !== '"') {
        if (text[pos] === '\\' && pos + 1 < text.length) pos++;
        out += text[pos];
        pos++;
      }
      if (text[pos] !== '"') fail('unterminated string');
      pos++;
      return out;
    }
    // Unquoted values are accepted by the APIC for simple tokens.
    const m = /^[^,()]+/.exec(text.slice(pos));
    if (m === null) return fail('expected a value');
    pos += m[0].length;
    return m[0].trim();
  };
  const propRef = (): { cls: string; prop: string } => {
    const cls = ident();
    expect('.');
    return { cls, prop: ident() };
  };
  const expr = (): FilterExpr => {
    const op = ident();
    expect('(');
    let out: FilterExpr;
    if (op === 'and' || op === 'or') {
      const args: FilterExpr[] = [expr()];
      skipWs();
      while (text[pos] === ',') {
        pos++;
        args.push(expr());
        skipWs();
      }
      out = { op, args };
    } else if (op === 'not') {
      out = { op, arg: expr() };
    } else if (op === 'bw') {
      const { cls, prop } = propRef();
      expect(',');
      const lo = value();
      expect(',');
      const hi = value();
      out = { op, cls, prop, lo, hi };
    } else if (comparisons.has(op)) {
      const { cls, prop } = propRef();
      expect(',');
      out = { op: op as 'eq', cls, prop, value: value() };
    } else {
      return fail(`unknown filter operator '${op}'`);
    }
    expect(')');
    return out;
  };
  const result = expr();
  skipWs();
  if (pos !== text.length) fail('trailing characters');
  return result;
}

function compare(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a.trim() !== '' && b.trim() !== '' && !Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Regexes are compiled once per pattern; wcard treats its value as a regular expression. */
const regexCache = new Map<string, RegExp>();
function wcard(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern);
    } catch {
      re = new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    }
    regexCache.set(pattern, re);
  }
  return re;
}

export function matchesFilter(
  f: FilterExpr,
  cls: string,
  attrs: Readonly<Record<string, string>>,
): boolean {
  switch (f.op) {
    case 'and':
      return f.args.every((a) => matchesFilter(a, cls, attrs));
    case 'or':
      return f.args.some((a) => matchesFilter(a, cls, attrs));
    case 'not':
      return !matchesFilter(f.arg, cls, attrs);
    case 'bw': {
      if (f.cls !== cls) return false;
      const v = attrs[f.prop] ?? '';
      return compare(v, f.lo) >= 0 && compare(v, f.hi) <= 0;
    }
    default: {
      if (f.cls !== cls) return false;
      const v = attrs[f.prop] ?? '';
      switch (f.op) {
        case 'eq':
          return v === f.value;
        case 'ne':
          return v !== f.value;
        case 'lt':
          return compare(v, f.value) < 0;
        case 'gt':
          return compare(v, f.value) > 0;
        case 'le':
          return compare(v, f.value) <= 0;
        case 'ge':
          return compare(v, f.value) >= 0;
        case 'wcard':
          return wcard(f.value).test(v);
      }
    }
  }
}
