/**
 * The render step as a specification: one default input, each test changes
 * one thing and looks the objects up by kind and name (tigera's node_test
 * style), plus a golden file of the whole sample and properties over random
 * valid specs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { AciFabricSpec, type AciFabricSpecInput } from '../../crds/index.ts';
import { validSpec } from '../../crds/testing/arbitraries.ts';
import { ControllerConfig, HostAgentConfig } from '../../lib/config/components.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import type { RenderInput } from './common.ts';
import { renderFabric } from './index.ts';
import { OperatorName, operatorClusterRules, operatorInstall } from './install.ts';
import {
  Annotations,
  ConfigKeys,
  ConfigMapName,
  Containers,
  ControllerName,
  HostAgentName,
  OpenvswitchName,
} from './names.ts';
import {
  controllerClusterRules,
  controllerLeaseRules,
  hostAgentClusterRules,
  type PolicyRule,
} from './rbac.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const samplePath = path.join(here, '..', '..', 'samples', 'acifabric.yaml');
const goldenPath = path.join(here, 'testdata', 'acifabric.golden.yaml');
const fabric = { name: 'fabric', uid: '3c1a7d55-5f4e-4f4f-9a3e-000000000001' };

async function sampleSpec(): Promise<AciFabricSpecInput> {
  return (parse(await readFile(samplePath, 'utf8')) as { spec: AciFabricSpecInput }).spec;
}

function input(spec: AciFabricSpecInput): RenderInput {
  return { fabric, spec: AciFabricSpec.parse(spec) };
}

function find(objects: KubeObject[], kind: string, name: string): KubeObject & Record<string, any> {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found)
    throw new Error(
      `${kind} ${name} not rendered; have ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
    );
  return found as KubeObject & Record<string, any>;
}

function containers(workload: Record<string, any>): Record<string, any>[] {
  return workload.spec.template.spec.containers as Record<string, any>[];
}

test('the sample renders exactly the golden manifest (UPDATE_GOLDEN=1 to accept a change)', async (t) => {
  const rendered = renderFabric(input(await sampleSpec()))
    .objects.map((o) => stringify(o, { lineWidth: 0 }))
    .join('---\n');
  if (process.env.UPDATE_GOLDEN === '1') await writeFile(goldenPath, rendered);
  t.is(rendered, await readFile(goldenPath, 'utf8'));
});

test('renders the original set of objects: controller Deployment, host and openvswitch DaemonSets, config, RBAC', async (t) => {
  const { objects } = renderFabric(input(await sampleSpec()));
  t.deepEqual(
    objects.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'Namespace/aci-containers-system',
      'ServiceAccount/aci-containers-controller',
      'ClusterRole/aci-containers-controller',
      'ClusterRoleBinding/aci-containers-controller',
      'Role/aci-containers-controller',
      'RoleBinding/aci-containers-controller',
      'ServiceAccount/aci-containers-host-agent',
      'ClusterRole/aci-containers-host-agent',
      'ClusterRoleBinding/aci-containers-host-agent',
      'ServiceAccount/aci-containers-openvswitch',
      'ConfigMap/aci-containers-config',
      'ValidatingAdmissionPolicy/aci-containers-host-own-podippool',
      'ValidatingAdmissionPolicyBinding/aci-containers-host-own-podippool',
      'Deployment/aci-containers-controller',
      'DaemonSet/aci-containers-host',
      'DaemonSet/aci-containers-openvswitch',
    ],
  );
});

test('the host DaemonSet has the three containers of the original with their capabilities and host paths', async (t) => {
  const host = find(renderFabric(input(await sampleSpec())).objects, 'DaemonSet', HostAgentName);
  const byName = Object.fromEntries(containers(host).map((c) => [c.name, c]));
  t.deepEqual(Object.keys(byName), [
    Containers.hostAgent,
    Containers.opflexAgent,
    Containers.mcastDaemon,
  ]);
  t.deepEqual(byName[Containers.hostAgent]?.securityContext.capabilities.add, [
    'SYS_ADMIN',
    'NET_ADMIN',
    'SYS_PTRACE',
  ]);
  t.deepEqual(byName[Containers.opflexAgent]?.securityContext.capabilities.add, ['NET_ADMIN']);
  const spec = host.spec.template.spec;
  t.true(spec.hostNetwork);
  t.true(spec.hostPID);
  t.deepEqual(spec.tolerations, [{ operator: 'Exists' }]);
  const hostPaths = (spec.volumes as Record<string, any>[])
    .filter((v) => v.hostPath)
    .map((v) => v.hostPath.path);
  t.deepEqual(hostPaths, ['/opt/cni/bin', '/etc/cni/net.d', '/var', '/run', '/run/netns']);
  t.is(spec.priorityClassName, 'system-node-critical');
});

test('the openvswitch DaemonSet has no API token, the capabilities OVS needs, a memory limit and an exec probe', async (t) => {
  const ovs = find(renderFabric(input(await sampleSpec())).objects, 'DaemonSet', OpenvswitchName);
  const spec = ovs.spec.template.spec;
  t.false(spec.automountServiceAccountToken);
  const [container] = containers(ovs);
  t.deepEqual(container?.securityContext.capabilities.add, [
    'NET_ADMIN',
    'SYS_MODULE',
    'SYS_NICE',
    'IPC_LOCK',
  ]);
  t.truthy(container?.resources.limits.memory);
  t.truthy(container?.livenessProbe.exec);
  t.true((spec.volumes as Record<string, any>[]).some((v) => v.hostPath?.path === '/lib/modules'));
  // Without the kernel module, OVS's userspace datapath needs the tun device for its ports.
  t.true((spec.volumes as Record<string, any>[]).some((v) => v.hostPath?.path === '/dev/net'));
  t.true(
    (container?.volumeMounts as Record<string, any>[]).some((m) => m.mountPath === '/dev/net'),
  );
});

test('the controller mounts the credentials Secret read-only and never receives its contents', async (t) => {
  const objects = renderFabric(input(await sampleSpec())).objects;
  const controller = find(objects, 'Deployment', ControllerName);
  const [container] = containers(controller);
  const mount = (container?.volumeMounts as Record<string, any>[]).find(
    (m) => m.name === 'apic-credentials',
  );
  t.true(mount?.readOnly);
  t.false(objects.some((o) => o.kind === 'Secret'));
  t.false(JSON.stringify(objects).includes('privateKey'));
  t.is(controller.spec.template.spec.hostNetwork, true);
  t.truthy(container?.livenessProbe.httpGet);
  t.truthy(container?.readinessProbe.httpGet);
});

test('the controller can read its credentials as the non-root user it runs as', async (t) => {
  const controller = find(
    renderFabric(input(await sampleSpec())).objects,
    'Deployment',
    ControllerName,
  );
  const pod = controller.spec.template.spec;
  const [container] = containers(controller);
  const uid = container?.securityContext.runAsUser as number;
  t.not(uid, 0);
  // The kubelet writes Secret files owned by root and group fsGroup: readable only through the group.
  t.is(pod.securityContext?.fsGroup, uid);
  const volume = (pod.volumes as Record<string, any>[]).find((v) => v.name === 'apic-credentials');
  const mode = volume?.secret.defaultMode as number;
  t.is(mode & 0o040, 0o040, 'group-readable');
  t.is(mode & 0o007, 0, 'nothing for others');
});

test('the operator runs before any CNI exists: host network, every taint tolerated', (t) => {
  const deployment = operatorInstall().find(
    (o) => o.kind === 'Deployment' && o.metadata.name === OperatorName,
  ) as Record<string, any>;
  const pod = deployment.spec.template.spec;
  t.true(pod.hostNetwork);
  t.is(pod.dnsPolicy, 'ClusterFirstWithHostNet');
  // NotReady nodes (no CNI yet) carry node.kubernetes.io/not-ready and network-unavailable taints.
  t.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
});

test('every config file satisfies the schema its component parses', async (t) => {
  const config = find(renderFabric(input(await sampleSpec())).objects, 'ConfigMap', ConfigMapName);
  const controller = ControllerConfig.parse(JSON.parse(config.data[ConfigKeys.controller]));
  HostAgentConfig.parse(JSON.parse(config.data[ConfigKeys.hostAgent]));
  t.is(controller.aci.applicationProfile, 'aci-containers-kube-pod1');
  t.is(controller.aci.podBridgeDomain, 'aci-containers-kube-pod1-pod-bd');
});

test('legacy naming uses the pre-5.0 names', async (t) => {
  const spec = await sampleSpec();
  spec.aci.legacyNaming = true;
  const config = find(renderFabric(input(spec)).objects, 'ConfigMap', ConfigMapName);
  const controller = ControllerConfig.parse(JSON.parse(config.data[ConfigKeys.controller]));
  t.is(controller.aci.applicationProfile, 'kubernetes');
  t.is(controller.aci.defaultEndpointGroup.name, 'kube-default');
  t.is(controller.aci.podBridgeDomain, 'kube-pod-bd');
});

const hashOf = (objects: KubeObject[], kind: string, name: string) =>
  find(objects, kind, name).spec.template.metadata.annotations[Annotations.configHash] as string;

test('a config change rolls only the pods that consume it; an image tag change changes no config hash', async (t) => {
  const base = await sampleSpec();
  const before = renderFabric(input(base)).objects;
  const logChange = structuredClone(base);
  logChange.logging = { ...logChange.logging, controller: 'debug' };
  const afterLog = renderFabric(input(logChange)).objects;
  t.not(
    hashOf(afterLog, 'Deployment', ControllerName),
    hashOf(before, 'Deployment', ControllerName),
  );
  t.is(hashOf(afterLog, 'DaemonSet', HostAgentName), hashOf(before, 'DaemonSet', HostAgentName));

  const tagChange = structuredClone(base);
  tagChange.images = { ...tagChange.images, tag: '0.2.0' };
  const afterTag = renderFabric(input(tagChange)).objects;
  t.is(hashOf(afterTag, 'DaemonSet', HostAgentName), hashOf(before, 'DaemonSet', HostAgentName));
  t.true(
    containers(find(afterTag, 'DaemonSet', HostAgentName)).every((c) => c.image.endsWith(':0.2.0')),
  );
});

test('per-component image overrides and the DaemonSet rollout budget are honoured', async (t) => {
  const spec = await sampleSpec();
  spec.images = { ...spec.images, openvswitch: { repository: 'registry.local/ovs', tag: '3.1' } };
  spec.components = { ...spec.components, maxUnavailable: '20%' };
  const objects = renderFabric(input(spec)).objects;
  const ovs = find(objects, 'DaemonSet', OpenvswitchName);
  t.is(containers(ovs)[0]?.image, 'registry.local/ovs:3.1');
  t.deepEqual(ovs.spec.updateStrategy, {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: '20%' },
  });
});

function allows(
  rules: PolicyRule[],
  group: string,
  resource: string,
  verb: string,
  name?: string,
): boolean {
  return rules.some(
    (r) =>
      r.apiGroups.includes(group) &&
      r.resources.includes(resource) &&
      r.verbs.includes(verb) &&
      (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))),
  );
}

test('RBAC is least privilege: a host agent writes only PodIPPool status, the controller never touches Secrets', (t) => {
  t.true(allows(hostAgentClusterRules, 'aci.cni.dev', 'podippools/status', 'patch'));
  for (const verb of ['create', 'update', 'patch', 'delete']) {
    t.false(
      allows(hostAgentClusterRules, 'aci.cni.dev', 'podippools', verb),
      `host agent may ${verb} podippools`,
    );
  }
  for (const verb of ['get', 'list', 'watch'])
    t.false(allows(controllerClusterRules, '', 'secrets', verb));
  t.false(allows(hostAgentClusterRules, '', 'secrets', 'get'));
});

test('the operator holds every permission it grants (no RBAC escalation needed)', (t) => {
  const operator = operatorClusterRules();
  for (const rule of [
    ...controllerClusterRules,
    ...hostAgentClusterRules,
    ...controllerLeaseRules,
  ]) {
    for (const group of rule.apiGroups)
      for (const resource of rule.resources)
        for (const verb of rule.verbs)
          t.true(
            allows(operator, group, resource, verb, rule.resourceNames?.[0]),
            `${group}/${resource} ${verb}`,
          );
  }
});

test('property: for any valid spec, render is deterministic and ownership is complete', (t) => {
  fc.assert(
    fc.property(validSpec, (spec) => {
      const first = renderFabric(input(spec)).objects;
      const second = renderFabric(input(structuredClone(spec))).objects;
      if (JSON.stringify(first) !== JSON.stringify(second)) return false;
      return first.every((o) =>
        o.metadata.namespace
          ? o.metadata.ownerReferences?.[0]?.uid === fabric.uid &&
            o.metadata.ownerReferences[0].controller === true
          : o.metadata.labels?.['aci.cni.dev/fabric'] === fabric.name,
      );
    }),
    { numRuns: 100 },
  );
  t.pass();
});
