import test from 'ava';
import { FilterSyntaxError, matchesFilter, parseFilter } from './filter.ts';

const tenant = { name: 'kube', descr: 'cluster one', prio: '5' };

const cases: Array<[string, boolean]> = [
  ['eq(fvTenant.name,"kube")', true],
  ['eq(fvTenant.name,"common")', false],
  ['ne(fvTenant.name,"common")', true],
  ['wcard(fvTenant.descr,"clus")', true],
  ['wcard(fvTenant.descr,"^one")', false],
  ['and(eq(fvTenant.name,"kube"),wcard(fvTenant.descr,"one$"))', true],
  ['and(eq(fvTenant.name,"kube"),eq(fvTenant.descr,"x"))', false],
  ['or(eq(fvTenant.name,"x"),eq(fvTenant.name,"kube"))', true],
  ['not(eq(fvTenant.name,"kube"))', false],
  ['gt(fvTenant.prio,"10")', false],
  ['lt(fvTenant.prio,"10")', true],
  ['bw(fvTenant.prio,"1","5")', true],
  ['eq(fvTenant.name,kube)', true],
  ['eq(fvBD.name,"kube")', false],
  ['ne(fvBD.name,"other")', false],
  [' and( eq(fvTenant.name, "kube") , or(eq(fvTenant.prio,"5")) ) ', true],
];

for (const [expr, expected] of cases) {
  test(`filter ${expr.trim()} is ${expected} for fvTenant kube`, (t) => {
    t.is(matchesFilter(parseFilter(expr), 'fvTenant', tenant), expected);
  });
}

test('quoted values keep commas, parentheses and escaped quotes', (t) => {
  const f = parseFilter('eq(fvTenant.descr,"a,b (c) \\"d\\"")');
  t.deepEqual(f, { op: 'eq', cls: 'fvTenant', prop: 'descr', value: 'a,b (c) "d"' });
});

for (const bad of [
  'eq(fvTenant.name)',
  'foo(fvTenant.name,"x")',
  'eq(fvTenant.name,"x"',
  'eq(fvTenant.name,"x"))',
  'and()',
  'eq(fvTenant,"x")',
]) {
  test(`filter '${bad}' is a syntax error`, (t) => {
    t.throws(() => parseFilter(bad), { instanceOf: FilterSyntaxError });
  });
}
