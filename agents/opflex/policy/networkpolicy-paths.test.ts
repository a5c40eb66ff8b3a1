/**
 * NetworkPolicy reaches a node by one path: lib/policy compiles it into the
 * security-group files the agent renders (checked with real packets by
 * conformance.dataplane.test.ts). The controller also writes it to the APIC
 * as hostprotPol (agents/controller/policy/hostprot.ts), which is what a
 * network engineer sees there and what the leaf serves as GbpSecGroup. This
 * test keeps the two from disagreeing: on every upstream conformance case,
 * both representations, evaluated by their own semantics, give the truth
 * table of the independent reference model, for every pod pair, port and
 * protocol.
 */
import test from 'ava';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import type { ControllerConfig } from '../../../lib/config/components.ts';
import { compileNetworkPolicies, matchesSelector } from '../../../lib/policy/network-policy.ts';
import { type Mo, moAttrs, moChildren } from '../../controller/apic/mo.ts';
import { hostprotPolicy } from '../../controller/policy/hostprot.ts';
import type { SecurityGroupFile, SecurityGroupRule } from '../files.ts';
import { cidrContains } from '../../../lib/net/cidr.ts';
import {
  type ModelPod,
  Namespaces,
  NetpolCases,
  Ports,
  type Proto,
  Protocols,
  k8sNamespace,
  k8sPod,
  modelPods,
  referenceAllowed,
} from '../../../e2e/support/opflex/netpol-model.ts';

const Prefix = '10.131';
const pods = modelPods(Prefix);
const k8sPods = pods.map(k8sPod);
const namespaces = Namespaces.map(k8sNamespace);
const config = { aci: { tenant: 'kube', objectPrefix: 'aci-containers-kube' } } as ControllerConfig;
type Direction = 'ingress' | 'egress';

// ---- security-group files, as the agent renders them (stages/securitygroup.ts) ----

function sgRuleAllows(r: SecurityGroupRule, remote: string, port: number, proto: Proto): boolean {
  return (
    (r.protocol === undefined || r.protocol === proto) &&
    (r.ports.length === 0 || r.ports.some((p) => port >= p.from && port <= p.to)) &&
    (r.remotes === undefined ||
      r.remotes.some(
        (b) => cidrContains(b.cidr, remote) && !b.except.some((e) => cidrContains(e, remote)),
      ))
  );
}

function sgAllows(
  groups: Map<string, SecurityGroupFile>,
  podGroups: string[],
  dir: Direction,
  remote: string,
  port: number,
  proto: Proto,
): boolean {
  const applied = podGroups.map((n) => groups.get(n));
  if (!applied.some((g) => g === undefined || g.isolates.includes(dir))) return true;
  return applied.some((g) =>
    (g?.rules ?? []).some((r) => r.direction === dir && sgRuleAllows(r, remote, port, proto)),
  );
}

// ---- hostprotPol, as the APIC (and the original agent, as GbpSecGroup) reads it ----

function hostprotAllows(
  pols: Mo[],
  dir: Direction,
  remote: string,
  port: number,
  proto: Proto,
): boolean {
  const subjects = pols
    .flatMap(moChildren)
    .filter((s) => moAttrs(s).name === `networkpolicy-${dir}`);
  if (subjects.length === 0) return true;
  return subjects.some((s) =>
    moChildren(s).some((rule) => {
      const a = moAttrs(rule);
      const ips = moChildren(rule).map((ip) => moAttrs(ip).addr ?? '');
      return (
        a.direction === dir &&
        a.ethertype === 'ipv4' &&
        (a.protocol === undefined || a.protocol === proto.toLowerCase()) &&
        (a.fromPort === undefined ||
          (port >= Number(a.fromPort) && port <= Number(a.toPort ?? a.fromPort))) &&
        (ips.length === 0 || ips.some((cidr) => cidrContains(cidr, remote)))
      );
    }),
  );
}

const selects = (p: V1NetworkPolicy, pod: ModelPod): boolean =>
  p.metadata?.namespace === pod.namespace &&
  matchesSelector(p.spec?.podSelector ?? {}, { pod: pod.name });

for (const c of NetpolCases) {
  test(`both NetworkPolicy paths agree with the reference: ${c.name}`, (t) => {
    const policies = c.policies(Prefix);
    const compiled = compileNetworkPolicies({ policies, pods: k8sPods, namespaces });
    const groups = new Map(compiled.groups.map((g) => [g.name, g]));
    const hostprot = new Map(
      policies.map((p) => [p, hostprotPolicy(config, p, { pods: k8sPods, namespaces })]),
    );
    const pols = (pod: ModelPod): Mo[] =>
      policies
        .filter((p) => selects(p, pod))
        .map((p) => hostprot.get(p))
        .filter((m): m is Mo => m !== undefined);
    const disagreements: string[] = [];
    for (const client of pods)
      for (const server of pods)
        for (const port of Ports)
          for (const proto of Protocols) {
            const expected = referenceAllowed(policies, client, server, port, proto);
            const groupsOf = (p: ModelPod): string[] =>
              compiled.podGroups.get(`${p.namespace}/${p.name}`) ?? [];
            const local =
              sgAllows(groups, groupsOf(client), 'egress', server.ip, port, proto) &&
              sgAllows(groups, groupsOf(server), 'ingress', client.ip, port, proto);
            const apic =
              hostprotAllows(pols(client), 'egress', server.ip, port, proto) &&
              hostprotAllows(pols(server), 'ingress', client.ip, port, proto);
            if (local !== expected || apic !== expected)
              disagreements.push(
                `${client.namespace}/${client.name} -> ${server.namespace}/${server.name} ${proto}/${port}: reference ${expected}, security groups ${local}, hostprot ${apic}`,
              );
          }
    t.deepEqual(disagreements, []);
  });
}
