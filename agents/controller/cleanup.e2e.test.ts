/**
 * Deletion handshake with the operator: while the AciFabric is being deleted
 * (a finalizer holds it, as the operator's does), the controller removes
 * every APIC object it owns and then reports `status.apic.cleanedUp: true`,
 * the signal the operator waits for before it removes its finalizer.
 */
import test from 'ava';
import { apiVersion as aciApiVersion, type AciFabric } from '../../crds/index.ts';
import { eventually } from '../../e2e/support/cluster.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import type { RunningController } from './controller.ts';
import { harness, waitLeading, type Harness } from '../../e2e/support/controller/harness.ts';
import { deployment, loadBalancerService } from '../../e2e/support/controller/workloads.ts';

const Hold = 'aci.cni.dev/test-hold';
let h: Harness;
let controller: RunningController;

test.before(async () => {
  h = await harness({ slot: 5 });
  await h.addNodes(2);
  controller = await h.start();
  await waitLeading(controller);
});

test.after.always(async () => {
  const fabric = await h?.client.read<KubeObject>({
    apiVersion: aciApiVersion,
    kind: 'AciFabric',
    name: h.fabricName,
  });
  if (fabric?.metadata.finalizers?.includes(Hold)) {
    await h.client.mergePatch(
      { apiVersion: aciApiVersion, kind: 'AciFabric', name: h.fabricName },
      { metadata: { finalizers: fabric.metadata.finalizers.filter((f) => f !== Hold) } },
    );
  }
  await h?.cleanup();
});

test('deleting the AciFabric makes the controller remove its APIC objects, then report cleanedUp', async (t) => {
  const ref = { apiVersion: aciApiVersion, kind: 'AciFabric', name: h.fabricName };
  await h.client.mergePatch(ref, { metadata: { finalizers: [Hold] } });
  const namespace = await h.createNamespace('cleanup');
  await h.client.apply(deployment({ namespace, name: 'web', scope: h.id, replicas: 2 }), {
    fieldManager: 'aci-e2e',
  });
  await h.client.apply(loadBalancerService(namespace, 'web', { app: 'web' }), {
    fieldManager: 'aci-e2e',
  });
  const before = await eventually(
    async () => (h.owned().size > 0 ? h.owned().size : undefined),
    'owned APIC objects',
  );
  t.log(`${before} APIC objects owned before deletion`);

  await h.client.delete(ref);
  const fabric = await eventually(
    async () => {
      const current = await h.client.read<AciFabric & KubeObject>(ref);
      return current?.status?.apic?.cleanedUp === true ? current : undefined;
    },
    'status.apic.cleanedUp',
    90_000,
  );
  t.is(h.owned().size, 0, 'every owned APIC object is gone');
  t.truthy(fabric.metadata.deletionTimestamp);
  // Foreign objects (the admin's L3Out, the VMM controller) are untouched.
  t.truthy(h.sim.tree.get('uni/tn-common/out-l3out1'));
});
