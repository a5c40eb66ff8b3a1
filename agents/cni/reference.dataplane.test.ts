/**
 * Our plugin against Debian's reference `bridge` + `host-local` plugins with
 * the same inputs (container id, netns, interface name, subnet, pool, MTU):
 * both results must have the same shape, field by field and type by type,
 * and both must be valid CNI 1.0 results. Needs root, OVS and
 * containernetworking-plugins.
 */
import test from 'ava';
import { CniResult } from '../host/cniserver/result.ts';
import {
  invokePlugin,
  k8sArgs,
  startCniTestBed,
  testChunks,
  testSubnets,
} from '../../e2e/support/host/harness.ts';
import type { CniTestBed } from '../../e2e/support/host/harness.ts';
import { ping } from '../../e2e/support/host/netns.ts';
import { startReferenceNetwork } from '../../e2e/support/host/reference.ts';
import type { ReferenceNetwork } from '../../e2e/support/host/reference.ts';

let bed: CniTestBed | undefined;
let ref: ReferenceNetwork | undefined;

test.before(async () => {
  bed = await startCniTestBed();
  ref = await startReferenceNetwork(bed.netns, bed.node.name, testSubnets, testChunks, 1450);
});
test.after.always(async () => {
  await ref?.close();
  await bed?.close();
});

/** The JSON type of every leaf, keyed by path with array indices replaced by []. */
function shapeOf(
  value: unknown,
  path = '',
  out = new Map<string, Set<string>>(),
): Map<string, Set<string>> {
  if (Array.isArray(value)) {
    for (const v of value) shapeOf(v, `${path}[]`, out);
    if (value.length === 0) out.set(`${path}[]`, new Set(['empty']));
    return out;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) shapeOf(v, path === '' ? k : `${path}.${k}`, out);
    if (Object.keys(value).length === 0) out.set(path, new Set(['{}']));
    return out;
  }
  const types = out.get(path) ?? new Set<string>();
  types.add(value === null ? 'null' : typeof value);
  out.set(path, types);
  return out;
}

const asObject = (m: Map<string, Set<string>>): Record<string, string[]> =>
  Object.fromEntries(
    [...m]
      .map(([k, v]) => [k, [...v].sort()])
      .sort(([a], [b]) => String(a).localeCompare(String(b))),
  );

test('ADD results have the same shape as the reference bridge + host-local result', async (t) => {
  const b = bed!;
  const r = ref!;
  const oursNs = await b.netns.create('cmpours');
  const refNs = await b.netns.create('cmpref');
  const containerId = `cmp-${b.netns.tag}`;

  const ours = await invokePlugin({
    command: 'ADD',
    containerId,
    netns: oursNs.path,
    ifName: 'eth0',
    args: k8sArgs('demo', 'cmp', 'uid-cmp'),
    config: b.config(),
  });
  const theirs = await r.invoke('ADD', containerId, refNs.path);
  t.is(ours.code, 0, ours.stdout);
  t.is(theirs.code, 0, theirs.stdout + theirs.stderr);

  const o = CniResult.parse(ours.json);
  const ref0 = CniResult.parse(theirs.json);

  // Same addresses from the same pool, same gateways, same family order.
  t.deepEqual(
    o.ips?.map((i) => [i.address, i.gateway]),
    ref0.ips?.map((i) => [i.address, i.gateway]),
  );
  // The bridge plugin lists its bridge first; the pod interface is the one with the sandbox in both.
  const podIf = (res: CniResult) => res.interfaces?.[res.ips?.[0]?.interface ?? -1];
  t.deepEqual(Object.keys(podIf(o) ?? {}).sort(), Object.keys(podIf(ref0) ?? {}).sort());
  t.is(podIf(o)?.sandbox, oursNs.path);
  t.is(podIf(ref0)?.sandbox, refNs.path);

  const oursShape = shapeOf(o);
  const refShape = shapeOf(ref0);
  // Every field the reference returns, we return with the same type.
  for (const [path, types] of refShape) t.deepEqual(oursShape.get(path), types, `field ${path}`);
  // Our only extra field is the route gateway the spec allows (host-local leaves it to the default gateway).
  t.deepEqual(
    [...oursShape.keys()].filter((k) => !refShape.has(k)),
    ['routes[].gw'],
    JSON.stringify({ ours: asObject(oursShape), reference: asObject(refShape) }),
  );

  // Both pods are wired: each reaches its gateway.
  t.true(await ping(oursNs.name, '10.123.0.1'));
  t.true(await ping(refNs.name, '10.123.0.1'));

  t.is(
    (
      await invokePlugin({
        command: 'DEL',
        containerId,
        netns: oursNs.path,
        ifName: 'eth0',
        config: b.config(),
      })
    ).code,
    0,
  );
  t.is((await r.invoke('DEL', containerId, refNs.path)).code, 0);
});
