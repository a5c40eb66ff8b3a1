/**
 * Components under their own rendered RBAC in the tests: a kubeconfig with a
 * token of the component's service account (TokenRequest, optionally bound
 * to a pod, which puts the pod's node into the token as the kubelet's tokens
 * carry it), a recorder of every API request a client makes, and the
 * `kubectl auth can-i --list` matrix of a subject, so a test compares what a
 * component may do with what its code did.
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KubeClient } from '../../lib/kube/client.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import type { RenderInput } from '../../operator/render/common.ts';
import { renderAdmissionPolicy } from '../../operator/render/policy.ts';
import { renderRbac } from '../../operator/render/rbac.ts';
import { testCluster, uniqueName } from './cluster.ts';

/**
 * The components' RBAC and admission policies (a host agent's own pool, the
 * controller's leader fence) as the operator renders them for this fabric.
 * Cluster-scoped objects get `suffix`
 * so that test fabrics sharing a cluster (same fixed names) do not fight
 * over them; rules and subjects are as rendered. Namespaced objects lose
 * their owner reference: no AciFabric owns a test's copy.
 */
export function componentRbac(input: RenderInput, suffix: string): KubeObject[] {
  return [...renderRbac(input), ...renderAdmissionPolicy(input)].map((o) => {
    if (o.metadata.namespace) {
      const { ownerReferences: _owner, ...metadata } = o.metadata;
      return { ...o, metadata };
    }
    const renamed = { ...o, metadata: { ...o.metadata, name: `${o.metadata.name}-${suffix}` } } as {
      roleRef?: { name: string };
      spec?: { policyName?: string };
    } & KubeObject;
    if (renamed.roleRef)
      renamed.roleRef = { ...renamed.roleRef, name: `${renamed.roleRef.name}-${suffix}` };
    if (renamed.spec?.policyName)
      renamed.spec = { ...renamed.spec, policyName: `${renamed.spec.policyName}-${suffix}` };
    return renamed;
  });
}

export interface ServiceAccountLogin {
  readonly username: string;
  readonly kubeconfig: string;
  readonly client: KubeClient;
}

/** A kubeconfig authenticating as system:serviceaccount:<namespace>:<name>. */
export async function serviceAccountLogin(
  namespace: string,
  name: string,
  boundPod?: string,
): Promise<ServiceAccountLogin> {
  const cluster = await testCluster();
  const token = (
    await cluster.kubectl([
      'create',
      'token',
      name,
      '-n',
      namespace,
      '--duration=2h',
      ...(boundPod ? ['--bound-object-kind=Pod', `--bound-object-name=${boundPod}`] : []),
    ])
  ).trim();
  const file = path.join(os.tmpdir(), `${uniqueName(name)}.kubeconfig`);
  const ca = path.join(cluster.dir, 'pki', 'ca.crt');
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: e2e, cluster: {server: "${cluster.serverUrl}", certificate-authority: "${ca}"}}]`,
      `users: [{name: sa, user: {token: "${token}"}}]`,
      'contexts: [{name: sa, context: {cluster: e2e, user: sa}}]',
      'current-context: sa',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    kubeconfig: file,
    client: KubeClient.fromFile(file),
  };
}

/** One permission as RBAC sees a request: `verb group/resource[/subresource] [name]`. */
export interface Access {
  readonly verb: string;
  /** `pods`, `podippools.aci.cni.dev/status`: as `kubectl auth can-i --list` prints it. */
  readonly resource: string;
  readonly name?: string;
  readonly namespace?: string;
}

/**
 * The request attributes the API server's authorizer sees for a path (its
 * RequestInfoFactory, for the resource paths this project's client builds).
 * A server-side apply (PATCH with a fieldManager) of an object that does not
 * exist yet creates it, which the API server authorizes as `create` too.
 */
export function accessesOf(method: string, fullPath: string): Access[] {
  const access = accessOf(method, fullPath);
  if (!access) return [];
  const apply = access.verb === 'patch' && /(^|[?&])fieldManager=/.test(fullPath);
  const creates = apply && !access.resource.includes('/');
  return creates ? [access, { ...access, verb: 'create' }] : [access];
}

function accessOf(method: string, fullPath: string): Access | undefined {
  const [pathname = '', query = ''] = fullPath.split('?');
  const parts = pathname.split('/').filter(Boolean);
  let group = '';
  let rest: string[];
  if (parts[0] === 'api') rest = parts.slice(2);
  else if (parts[0] === 'apis') {
    group = parts[1] ?? '';
    rest = parts.slice(3);
  } else return undefined;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest;
  if (!resource) return undefined;
  const watching = method === 'WATCH' || /(^|&)watch=(1|true)/.test(query);
  const verb = watching
    ? 'watch'
    : method === 'GET'
      ? name
        ? 'get'
        : 'list'
      : method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : method === 'DELETE'
              ? name
                ? 'delete'
                : 'deletecollection'
              : method.toLowerCase();
  const qualified = `${resource}${group ? `.${group}` : ''}${subresource ? `/${subresource}` : ''}`;
  return {
    verb,
    resource: qualified,
    ...(name ? { name } : {}),
    ...(namespace ? { namespace } : {}),
  };
}

/** Every request the client makes from now on, as RBAC sees it. */
export function recordAccess(client: KubeClient): Access[] {
  const seen: Access[] = [];
  const previous = client.onRequest;
  client.onRequest = (method, requestPath) => {
    previous(method, requestPath);
    seen.push(...accessesOf(method, requestPath));
  };
  return seen;
}

export interface Grant {
  readonly resource: string;
  readonly names: readonly string[];
  readonly verbs: readonly string[];
}

/** `kubectl auth can-i --list` for a user, in a namespace (cluster-wide rules included). */
export async function canIList(username: string, namespace: string): Promise<Grant[]> {
  const cluster = await testCluster();
  const out = await cluster.kubectl([
    'auth',
    'can-i',
    '--list',
    `--as=${username}`,
    '-n',
    namespace,
  ]);
  const grants: Grant[] = [];
  for (const line of out.split('\n').slice(1)) {
    // Columns: Resources, Non-Resource URLs, Resource Names, Verbs (blank columns as "[]").
    const m = /^(\S+)\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s*$/.exec(line.trim());
    if (!m) continue;
    const [, resource = '', , names = '', verbs = ''] = m;
    grants.push({
      resource,
      names: names.split(/\s+/).filter(Boolean),
      verbs: verbs.split(/\s+/).filter(Boolean),
    });
  }
  return grants;
}

/** Grants of `subject` that `baseline` (a subject with no bindings of its own) does not also hold. */
export function ownGrants(subject: readonly Grant[], baseline: readonly Grant[]): Grant[] {
  const key = (resource: string, name: string, verb: string) => `${resource}|${name}|${verb}`;
  const common = new Set(
    baseline.flatMap((g) =>
      (g.names.length ? g.names : ['']).flatMap((n) => g.verbs.map((v) => key(g.resource, n, v))),
    ),
  );
  return subject
    .map((g) => ({
      ...g,
      verbs: g.verbs.filter((v) =>
        (g.names.length ? g.names : ['']).some((n) => !common.has(key(g.resource, n, v))),
      ),
    }))
    .filter((g) => g.verbs.length > 0);
}

const grantCovers = (g: Grant, a: Access): boolean =>
  g.resource === a.resource &&
  (g.verbs.includes(a.verb) || g.verbs.includes('*')) &&
  (g.names.length === 0 || (a.name !== undefined && g.names.includes(a.name)));

export interface AccessMatrix {
  /** Requests no grant allows (the API server answered 403). */
  readonly denied: Access[];
  /** Granted verb/resource (/name) pairs the component never used. */
  readonly unused: string[];
  /** One line per grant and verb: used or not. */
  readonly table: string[];
}

export function accessMatrix(grants: readonly Grant[], used: readonly Access[]): AccessMatrix {
  const denied = used.filter((a) => !grants.some((g) => grantCovers(g, a)));
  const unused: string[] = [];
  const table: string[] = [];
  for (const g of grants) {
    for (const verb of g.verbs) {
      const hit = used.some(
        (a) =>
          a.resource === g.resource &&
          a.verb === verb &&
          (g.names.length === 0 || (a.name !== undefined && g.names.includes(a.name))),
      );
      const what = `${verb} ${g.resource}${g.names.length ? ` [${g.names.join(' ')}]` : ''}`;
      table.push(`${hit ? 'used  ' : 'UNUSED'} ${what}`);
      if (!hit) unused.push(what);
    }
  }
  return { denied: dedupe(denied), unused, table };
}

function dedupe(list: Access[]): Access[] {
  const seen = new Map<string, Access>();
  for (const a of list) seen.set(`${a.verb} ${a.resource} ${a.name ?? ''}`, a);
  return [...seen.values()];
}
