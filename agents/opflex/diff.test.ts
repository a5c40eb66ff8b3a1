import test from 'ava';
import {
  CookieMemo,
  type InstalledState,
  desiredState,
  flowCookie,
  planBundle,
  planDelta,
} from './diff.ts';
import { IncrementalRenderer } from './render-incremental.ts';
import { renderPipeline } from './render.ts';
import { PodA, WebService, defaultModel } from '../../e2e/support/opflex/fixtures.ts';

const rendered = renderPipeline(defaultModel({ services: [WebService] }));
const desired = desiredState('opflex', rendered.flows, rendered.groups);
const installedAs = (d: typeof desired): InstalledState => ({
  cookies: new Set(d.flows.keys()),
  groups: new Map(d.groups),
});

test('installing onto an empty switch adds groups before flows', (t) => {
  const plan = planBundle(desired, { cookies: new Set(), groups: new Map() });
  t.is(plan.flowAdds, rendered.flows.length);
  t.is(plan.groupWrites, rendered.groups.length);
  t.true(plan.lines[0]?.startsWith('group add_or_mod group_id='));
  t.true(
    plan.lines.slice(rendered.groups.length).every((l) => l.startsWith('flow add cookie=0xa')),
  );
});

test('installing the same state twice is idempotent: the second bundle is empty', (t) => {
  t.deepEqual(planBundle(desired, installedAs(desired)).lines, []);
});

test('re-rendering the same model yields the same cookies (agent restarts change nothing)', (t) => {
  const again = renderPipeline(defaultModel({ services: [WebService] }));
  t.deepEqual(
    [...desiredState('opflex', again.flows, again.groups).flows.keys()],
    [...desired.flows.keys()],
  );
});

test('a changed flow is a delete of the old cookie and an add of the new one, in that order', (t) => {
  const first = rendered.flows.find((f) => f.actions !== 'drop');
  if (!first) throw new Error('no flows');
  const changed = { ...first, actions: 'drop' };
  const next = desiredState(
    'opflex',
    rendered.flows.map((f) => (f === first ? changed : f)),
    rendered.groups,
  );
  const plan = planBundle(next, installedAs(desired));
  t.deepEqual(plan.lines, [
    `flow delete cookie=0x${flowCookie('opflex', first).toString(16)}/-1`,
    `flow add ${next.flows.get(flowCookie('opflex', changed))}`,
  ]);
});

test('a removed service deletes its group after its flows; unknown group text is rewritten', (t) => {
  const none = renderPipeline(defaultModel());
  const plan = planBundle(desiredState('opflex', none.flows, none.groups), installedAs(desired));
  t.is(plan.groupDeletes, 1);
  t.true(plan.lines.at(-1)?.startsWith('group delete group_id='));
  const afterRestart: InstalledState = {
    cookies: new Set(desired.flows.keys()),
    groups: new Map([...desired.groups.keys()].map((id) => [id, undefined])),
  };
  t.is(planBundle(desired, afterRestart).groupWrites, desired.groups.size);
});

test('cookies carry owner and feature in the top 16 bits', (t) => {
  const c = flowCookie('mcast', {
    table: 'Flood',
    priority: 0,
    match: '',
    actions: 'drop',
    feature: 'Canary',
  });
  t.is(c >> 56n, 0x0bn);
  t.is((c >> 48n) & 0xffn, 0x0fn);
});

test('the cookie memo of a render loop gives what desiredState gives, render after render', (t) => {
  const memo = new CookieMemo('opflex');
  const sameAs = (flows: typeof rendered.flows, groups: typeof rendered.groups) =>
    t.deepEqual(memo.desired(flows, groups), desiredState('opflex', flows, groups));
  sameAs(rendered.flows, rendered.groups);
  sameAs(rendered.flows, rendered.groups);
  // A changed action, a flow moved to another feature, a flow gone: each is a new cookie or none.
  const [first, second, ...rest] = rendered.flows;
  if (!first || !second) throw new Error('no flows');
  sameAs([{ ...first, actions: 'drop' }, second, ...rest], rendered.groups);
  sameAs([first, { ...second, feature: 'Canary' }, ...rest], []);
  sameAs(rest, rendered.groups);
  sameAs(rendered.flows, rendered.groups);
});

test('a delta plans the same bundle as the full diff of the switch that holds the previous generation', (t) => {
  const r = new IncrementalRenderer('opflex');
  const before = r.render(defaultModel({ services: [WebService] }));
  const installed = installedAs({
    flows: new Map(before.state.flows),
    groups: new Map(before.state.groups),
  });
  // One pod more, one service gone: flow adds, flow deletes and a group delete.
  const pod = { ...PodA, uuid: 'c', ofport: 3, mac: '0a:58:0a:00:00:03', ipv4: ['10.1.0.13'] };
  const after = r.render(defaultModel({ endpoints: [...defaultModel().endpoints, pod] }));
  if (!after.delta) throw new Error('no delta');
  const fromDelta = planDelta(after.delta, installed);
  const full = planBundle(after.state, installed);
  t.deepEqual([...fromDelta.lines].sort(), [...full.lines].sort());
  t.true(fromDelta.flowAdds > 0 && fromDelta.flowDeletes > 0 && fromDelta.groupDeletes === 1);
  // A delta that repeats what the switch has sends nothing for it.
  t.deepEqual(planDelta(after.delta, installedAs(after.state)).lines, []);
});
