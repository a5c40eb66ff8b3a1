import test from 'ava';
import type { KubeObject } from '../../lib/kube/types.ts';
import { projection } from './fabric.ts';
import { fabricStatus, Reasons, rolloutOf } from './status.ts';

const now = new Date('2026-01-01T00:00:00Z');

function daemonSet(generation: number, status: Record<string, number>): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'ds', generation }, status };
}

test('a DaemonSet is rolled out only when the new generation is observed and every pod is updated and available', (t) => {
  const complete = {
    observedGeneration: 2,
    desiredNumberScheduled: 3,
    updatedNumberScheduled: 3,
    numberReady: 3,
    numberAvailable: 3,
  };
  t.true(rolloutOf(daemonSet(2, complete)).done);
  t.false(rolloutOf(daemonSet(3, complete)).done, 'old generation observed');
  t.false(rolloutOf(daemonSet(2, { ...complete, updatedNumberScheduled: 2 })).done);
  t.false(rolloutOf(daemonSet(2, { ...complete, numberAvailable: 1 })).done);
  t.is(rolloutOf(daemonSet(2, { ...complete, numberReady: 2 })).status.summary, '2/3');
  t.false(rolloutOf(undefined).done);
});

const done = {
  status: { desired: 3, updated: 3, ready: 3, available: 3, summary: '3/3' },
  done: true,
};
const rolling = {
  status: { desired: 3, updated: 1, ready: 3, available: 3, summary: '3/3' },
  done: false,
};

test('Ready when everything rolled out; Progressing while a component rolls', (t) => {
  const ready = fabricStatus({
    generation: 4,
    previous: [],
    now,
    rollouts: { controller: done, hostAgent: done, openvswitch: done },
  });
  t.deepEqual(
    ready.conditions.map((c) => [c.type, c.status, c.reason]),
    [
      ['Ready', 'True', Reasons.Ready],
      ['Progressing', 'False', Reasons.RolledOut],
      ['Degraded', 'False', Reasons.AsExpected],
    ],
  );
  t.is(ready.observedGeneration, 4);
  const progressing = fabricStatus({
    generation: 5,
    previous: ready.conditions,
    now,
    rollouts: { controller: done, hostAgent: rolling, openvswitch: done },
  });
  t.is(
    progressing.conditions.find((c) => c.type === 'Progressing')?.message,
    'Rolling out: host agents 1/3 updated',
  );
  t.is(progressing.conditions.find((c) => c.type === 'Ready')?.status, 'False');
});

test('Degraded carries the reason into Ready, and conditions of other writers are left alone', (t) => {
  const status = fabricStatus({
    generation: 1,
    previous: [
      {
        type: 'ApicConnected',
        status: 'True',
        reason: 'Connected',
        message: '',
        lastTransitionTime: '2025-01-01T00:00:00Z',
      },
    ],
    now,
    degraded: { reason: Reasons.CredentialsInvalid, message: 'Secret x lacks privateKey' },
  });
  t.deepEqual(
    status.conditions.map((c) => c.type),
    ['Ready', 'Progressing', 'Degraded'],
  );
  t.is(status.conditions[0]?.reason, Reasons.CredentialsInvalid);
  t.is(status.conditions[2]?.status, 'True');
});

test('a spec refused before anything exists is Degraded, not Progressing; a new install names what is not created yet', (t) => {
  const missing = rolloutOf(undefined);
  const refused = fabricStatus({
    generation: 1,
    previous: [],
    now,
    rollouts: { controller: missing, hostAgent: missing, openvswitch: missing },
    degraded: { reason: Reasons.InvalidSpec, message: 'spec.namespace: x is not managed here' },
  });
  t.deepEqual(
    refused.conditions.map((c) => [c.type, c.status, c.reason]),
    [
      ['Ready', 'False', Reasons.InvalidSpec],
      ['Progressing', 'False', Reasons.InvalidSpec],
      ['Degraded', 'True', Reasons.InvalidSpec],
    ],
  );
  const installing = fabricStatus({
    generation: 1,
    previous: [],
    now,
    rollouts: { controller: rolling, hostAgent: missing, openvswitch: missing },
  });
  t.is(
    installing.conditions.find((c) => c.type === 'Progressing')?.message,
    'Rolling out: controller 1/3 updated, host agents not created yet, openvswitch not created yet',
  );
});

test('projection keeps only the fields we apply, so status churn is not mistaken for our update', (t) => {
  const applied = {
    spec: { replicas: 1, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } },
  };
  const live = {
    spec: {
      replicas: 1,
      revisionHistoryLimit: 10,
      template: {
        spec: { containers: [{ name: 'a', image: 'x', imagePullPolicy: 'IfNotPresent' }] },
      },
    },
    status: { replicas: 1 },
  };
  t.deepEqual(projection(live, applied), applied);
  const edited = structuredClone(live);
  edited.spec.template.spec.containers[0]!.image = 'y';
  t.notDeepEqual(projection(edited, applied), applied);
});
