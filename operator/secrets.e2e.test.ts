/**
 * The operator's Secret watches (reconcile/secrets.ts) on the real API
 * server, under the narrowest Role they can work with: list and watch of
 * Secrets limited by resourceNames, which the API server applies to a list
 * or watch that selects `metadata.name` (the watches always do). What
 * docs/operator.md says an administrator may narrow the operator's Role to.
 */
import test from 'ava';
import type { KubeObject } from '../lib/kube/types.ts';
import { ensureCrds, eventually, testClient, uniqueName } from '../e2e/support/cluster.ts';
import { serviceAccountLogin, type ServiceAccountLogin } from '../e2e/support/rbac.ts';
import { ReferenceWatchError, ReferenceWatches } from './reconcile/secrets.ts';

const namespace = uniqueName('secret-watch');
const account = 'narrow-operator';
let login: ServiceAccountLogin;

const secret = (name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  stringData: { username: 'kube', privateKey: 'test key, never logged' },
});
const ref = (name: string) => ({ apiVersion: 'v1', kind: 'Secret', namespace, name });

test.before(async () => {
  const admin = await testClient();
  await ensureCrds(admin);
  const objects: KubeObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: account, namespace } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: account, namespace },
      rules: [
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: ['creds'],
          verbs: ['get', 'list', 'watch'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: account, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
      subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
    },
    secret('creds'),
    secret('other'),
  ];
  for (const object of objects) await admin.apply(object, { fieldManager: 'aci-e2e' });
  login = await serviceAccountLogin(namespace, account);
});

test.after.always(async () => {
  login?.client.close();
  await (await testClient()).delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace });
});

test.serial(
  'a watch by name works under a Role that names the Secret, and sees it deleted and recreated',
  async (t) => {
    const changes: string[] = [];
    const watches = new ReferenceWatches({
      kind: 'Secret',
      client: login.client,
      onChange: (_ns, name) => changes.push(name),
      syncTimeoutMs: 20_000,
    });
    t.teardown(() => watches.stop());
    await watches.use('fabric', namespace, ['creds']);
    t.truthy(watches.get(namespace, 'creds')?.data?.privateKey);
    // The Role is no wider than it says: the namespace's other Secrets stay out of reach.
    await t.throwsAsync(login.client.list('v1', 'Secret', { namespace }), {
      message: /forbidden/i,
    });

    const admin = await testClient();
    await admin.delete(ref('creds'));
    await eventually(
      async () => watches.get(namespace, 'creds') === undefined,
      'the watch to see the deletion',
      10_000,
    );
    t.true(changes.includes('creds'));
    await admin.apply(secret('creds'), { fieldManager: 'aci-e2e' });
    await eventually(
      async () => watches.get(namespace, 'creds') !== undefined,
      'the watch to see it again',
      10_000,
    );
  },
);

test.serial(
  'a Secret the Role does not name fails to sync with an error that names it and the rights needed',
  async (t) => {
    const watches = new ReferenceWatches({
      kind: 'Secret',
      client: login.client,
      onChange: () => {},
      syncTimeoutMs: 3000,
    });
    t.teardown(() => watches.stop());
    const error = await t.throwsAsync(watches.use('fabric', namespace, ['other']), {
      instanceOf: ReferenceWatchError,
    });
    t.regex(error?.message ?? '', new RegExp(`Secret ${namespace}/other: .*forbidden`, 'i'));
    t.regex(error?.message ?? '', /needs get, list and watch on secrets/);
    t.false((error?.message ?? '').includes('test key'));
  },
);

test.serial('a fabric that stops naming a Secret stops watching it', async (t) => {
  const admin = await testClient();
  const changes: string[] = [];
  const watches = new ReferenceWatches({
    kind: 'Secret',
    client: admin,
    onChange: (_ns, name) => changes.push(name),
  });
  t.teardown(() => watches.stop());
  await watches.use('fabric', namespace, ['creds', 'other']);
  t.truthy(watches.get(namespace, 'other'));
  await watches.use('fabric', namespace, ['creds']);
  t.is(watches.get(namespace, 'other'), undefined);
  changes.length = 0;
  await admin.mergePatch(ref('other'), { stringData: { username: 'changed' } });
  await admin.mergePatch(ref('creds'), { stringData: { username: 'changed' } });
  await eventually(async () => changes.includes('creds'), 'the change of creds', 10_000);
  t.false(changes.includes('other'));
});
