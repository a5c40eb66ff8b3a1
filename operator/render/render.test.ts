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
import { ControllerConfig, HostAgentConfig, ports } from '../../lib/config/components.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import type { RenderInput } from './common.ts';
import { renderFabric } from './index.ts';
import {
  OperatorName,
  fabricNamespaceInstall,
  operatorClusterRules,
  operatorInstall,
} from './install.ts';
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
      'ValidatingAdmissionPolicy/aci-containers-controller-leader-fence',
      'ValidatingAdmissionPolicyBinding/aci-containers-controller-leader-fence',
      'Deployment/aci-containers-controller',
      'DaemonSet/aci-containers-host',
      'DaemonSet/aci-containers-openvswitch',
    ],
  );
});

test('with VLAN encap the mcast daemon joins no group and keeps no capability', async (t) => {
  const sample = await sampleSpec();
  const vlan = {
    ...sample,
    aci: {
      ...sample.aci,
      vmmDomain: {
        ...sample.aci.vmmDomain,
        encapType: 'vlan' as const,
        vlanPool: { start: 3000, end: 3099 },
      },
    },
  };
  const host = find(renderFabric(input(vlan)).objects, 'DaemonSet', HostAgentName);
  const mcast = containers(host).find((c) => c.name === Containers.mcastDaemon);
  t.deepEqual(mcast?.securityContext.capabilities, { drop: ['ALL'] });
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
  t.deepEqual(byName[Containers.opflexAgent]?.securityContext.capabilities, { drop: ['ALL'] });
  // The sample is VXLAN: the mcast daemon joins groups with autojoin addresses (NET_ADMIN).
  t.deepEqual(byName[Containers.mcastDaemon]?.securityContext.capabilities, {
    drop: ['ALL'],
    add: ['NET_ADMIN'],
  });
  const spec = host.spec.template.spec;
  t.true(spec.hostNetwork);
  t.true(spec.hostPID);
  t.deepEqual(spec.tolerations, [{ operator: 'Exists' }]);
  t.is(spec.priorityClassName, 'system-node-critical');
});

/** Per container: mount path -> [host path, read-only]; emptyDir and ConfigMap volumes as their kind. */
function mountTable(workload: Record<string, any>, container: string): Record<string, unknown> {
  const spec = workload.spec.template.spec;
  const volumes = new Map<string, Record<string, any>>(
    (spec.volumes as Record<string, any>[]).map((v) => [v.name as string, v]),
  );
  const all = [...(spec.initContainers ?? []), ...spec.containers] as Record<string, any>[];
  const c = all.find((x) => x.name === container);
  if (!c) throw new Error(`no container ${container}`);
  return Object.fromEntries(
    (c.volumeMounts as Record<string, any>[]).map((m) => {
      const v = volumes.get(m.name);
      const source = v?.hostPath ? v.hostPath.path : v?.emptyDir ? 'emptyDir' : 'configMap';
      return [m.mountPath, [source, m.readOnly === true]];
    }),
  );
}

test('each node container mounts only the node folders it needs, read-only where it only reads', async (t) => {
  const objects = renderFabric(input(await sampleSpec())).objects;
  const host = find(objects, 'DaemonSet', HostAgentName);
  const ovs = find(objects, 'DaemonSet', OpenvswitchName);
  const state = '/usr/local/var/lib/aci-containers';
  const ovsRun = '/usr/local/var/run/openvswitch';
  const agentConfig = '/usr/local/etc/opflex-agent-ovs/base-conf.d';
  t.deepEqual(mountTable(host, Containers.hostAgent), {
    '/mnt/cni-bin': ['/opt/cni/bin', false],
    '/mnt/cni-conf': ['/etc/cni/net.d', false],
    [state]: ['/var/lib/aci-containers', false],
    '/usr/local/var/run/aci-containers': ['/var/run/aci-containers', false],
    [ovsRun]: ['/var/run/openvswitch', true],
    '/usr/local/etc/aci-containers': ['configMap', true],
    [agentConfig]: ['emptyDir', false],
    '/run/netns': ['/run/netns', true],
  });
  for (const reader of [Containers.opflexAgent, Containers.mcastDaemon])
    t.deepEqual(
      mountTable(host, reader),
      {
        [state]: ['/var/lib/aci-containers', true],
        [ovsRun]: ['/var/run/openvswitch', true],
        [agentConfig]: ['emptyDir', true],
      },
      reader,
    );
  t.deepEqual(mountTable(host, Containers.cniInstall), {
    '/mnt/cni-bin': ['/opt/cni/bin', false],
    '/mnt/cni-conf': ['/etc/cni/net.d', false],
    '/usr/local/etc/aci-containers': ['configMap', true],
  });
  t.deepEqual(mountTable(ovs, Containers.openvswitch), {
    [ovsRun]: ['/var/run/openvswitch', false],
    '/lib/modules': ['/lib/modules', true],
    '/dev/net': ['/dev/net', false],
  });
  // New pod network namespaces appear under /run/netns after the agent started.
  const netns = (containers(host)[0]?.volumeMounts as Record<string, any>[]).find(
    (m) => m.mountPath === '/run/netns',
  );
  t.is(netns?.mountPropagation, 'HostToContainer');
});

test("no node pod shares the node's IPC namespace; Open vSwitch keeps its own PID namespace", async (t) => {
  const objects = renderFabric(input(await sampleSpec())).objects;
  for (const name of [HostAgentName, OpenvswitchName]) {
    const spec = find(objects, 'DaemonSet', name).spec.template.spec;
    t.falsy(spec.hostIPC, `${name} hostIPC`);
  }
  t.falsy(find(objects, 'DaemonSet', OpenvswitchName).spec.template.spec.hostPID);
});

test('the opflex agent and mcast daemon are probed on the loopback of the node, each on its own port', async (t) => {
  const host = find(renderFabric(input(await sampleSpec())).objects, 'DaemonSet', HostAgentName);
  const byName = Object.fromEntries(containers(host).map((c) => [c.name, c]));
  const seen = new Set<number>();
  for (const [name, port] of [
    [Containers.hostAgent, ports.hostAgentHealth],
    [Containers.opflexAgent, ports.opflexAgentHealth],
    [Containers.mcastDaemon, ports.mcastDaemonHealth],
  ] as const) {
    const c = byName[name];
    t.deepEqual(c?.livenessProbe.httpGet, { host: '127.0.0.1', port, path: '/healthz' }, name);
    t.deepEqual(c?.readinessProbe.httpGet, { host: '127.0.0.1', port, path: '/readyz' }, name);
    if (name !== Containers.hostAgent)
      t.true((c?.command as string[]).includes(`--health-port=${port}`), name);
    seen.add(port);
  }
  t.is(seen.size, 3);
});

test('the controller and the operator serve probes and metrics on their pod IP, not on every address', async (t) => {
  const controller = find(
    renderFabric(input(await sampleSpec())).objects,
    'Deployment',
    ControllerName,
  );
  const operator = operatorInstall().find((o) => o.kind === 'Deployment') as Record<string, any>;
  for (const c of [containers(controller)[0], containers(operator)[0]]) {
    t.true((c?.command as string[]).includes('--health-address=$(POD_IP)'));
    t.deepEqual((c?.env as Record<string, any>[]).find((e) => e.name === 'POD_IP')?.valueFrom, {
      fieldRef: { fieldPath: 'status.podIP' },
    });
    // No host: the kubelet probes the pod IP, where the process listens.
    t.is(c?.livenessProbe.httpGet.host, undefined);
    t.is(c?.readinessProbe.httpGet.host, undefined);
  }
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

const operatorRole = (): PolicyRule[] =>
  (
    fabricNamespaceInstall().find((o) => o.kind === 'Role') as unknown as {
      rules: PolicyRule[];
    }
  ).rules;

test('the operator holds every permission it grants (no RBAC escalation needed)', (t) => {
  const check = (held: PolicyRule[], granted: PolicyRule[], where: string) => {
    for (const rule of granted)
      for (const group of rule.apiGroups)
        for (const resource of rule.resources)
          for (const verb of rule.verbs)
            t.true(
              allows(held, group, resource, verb, rule.resourceNames?.[0]),
              `${where}: ${group}/${resource} ${verb}`,
            );
  };
  check(operatorClusterRules(), [...controllerClusterRules, ...hostAgentClusterRules], 'cluster');
  // The controller's Role lives in the fabric namespace: the operator's Role there must cover it.
  check(operatorRole(), controllerLeaseRules, 'fabric namespace');
});

const apiGroupOf = (apiVersion: string): string =>
  apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';
const plural = (kind: string): string =>
  kind.endsWith('y') ? `${kind.slice(0, -1).toLowerCase()}ies` : `${kind.toLowerCase()}s`;

test("the operator's rights are its fabric's objects by name: namespaced ones by its Role in the fabric namespace, cluster-scoped ones by its ClusterRole", async (t) => {
  const { objects } = renderFabric(input(await sampleSpec()));
  const cluster = [
    ...operatorClusterRules(),
    ...fabricNamespaceInstall()
      .filter((o) => o.kind === 'ClusterRole')
      .flatMap((o) => (o as unknown as { rules: PolicyRule[] }).rules),
  ];
  const role = operatorRole();
  for (const o of objects) {
    const [group, resource, name] = [apiGroupOf(o.apiVersion), plural(o.kind), o.metadata.name];
    const held = o.metadata.namespace ? role : cluster;
    for (const verb of ['get', 'patch', 'delete'])
      if (o.kind !== 'Namespace' || verb !== 'delete')
        t.true(allows(held, group, resource, verb, name), `${o.kind}/${name} ${verb}`);
    // Any other name of that kind it may not change.
    t.false(allows(held, group, resource, 'patch', 'someone-elses'), `${o.kind} patch by any name`);
    if (o.metadata.namespace)
      t.false(allows(cluster, group, resource, 'patch', name), `${o.kind} patch cluster-wide`);
  }
  for (const verb of ['get', 'list', 'watch'])
    t.false(allows(cluster, '', 'secrets', verb), `secrets ${verb} cluster-wide`);
  t.true(allows(role, '', 'secrets', 'get', 'aci-apic-credentials'));
  // list and watch for the Secret watches (by a metadata.name field selector); never a write.
  for (const verb of ['list', 'watch']) t.true(allows(role, '', 'secrets', verb));
  for (const verb of ['create', 'update', 'patch', 'delete'])
    t.false(allows(role, '', 'secrets', verb, 'aci-apic-credentials'), `secrets ${verb}`);
  // The install applies the Role where a default AciFabric puts its components.
  const namespace = fabricNamespaceInstall()[0];
  t.is(namespace?.metadata.name, AciFabricSpec.parse(await sampleSpec()).namespace);
  t.true(
    operatorInstall().some(
      (o) => o.kind === 'Role' && o.metadata.namespace === namespace?.metadata.name,
    ),
  );
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
