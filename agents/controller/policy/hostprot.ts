/**
 * Kubernetes NetworkPolicy → APIC host protection policy (pure).
 *
 * One hostprotPol per NetworkPolicy (`<prefix>_np_<namespace>_<name>`), with
 * a hostprotSubj per direction the policy isolates (`networkpolicy-ingress`,
 * `networkpolicy-egress`); a subject without rules denies that direction.
 * Every rule × port becomes hostprotRule(s), one per IP family
 * (`<rule>_<port>-ipv4`), whose hostprotRemoteIp children are the peers:
 * pod IPs of the selected pods, ipBlock CIDRs minus `except`. A rule without
 * peers allows every address (no remote IPs); a rule whose peers match
 * nothing is left out, because an empty remote list would mean "any".
 *
 * Named ports: on ingress they name the selected pods' container port (the
 * union of the numbers the selected pods use: the hostprotPol is shared by
 * all of them); on egress each destination pod's own number, so peers are
 * grouped by the number their container port has (`<rule>_<port>_<number>`).
 */
import type {
  V1Namespace,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1Pod,
} from '@kubernetes/client-node';
import type { ControllerConfig } from '../../../lib/config/components.ts';
import {
  matchesSelector,
  namedPort,
  podIPs,
  policyTypes,
  type Protocol,
} from '../../../lib/policy/network-policy.ts';
import { hostCidr } from '../../../lib/net/cidr.ts';
import { ipBlockContains, subtractCidrs } from '../../../lib/net/prefix-set.ts';
import { makeMo as mo, type Mo } from '../apic/mo.ts';
import { networkPolicyObjectName, tenantDn } from '../apicnames.ts';

export interface PolicyContext {
  /** Pods that can be peers: not host-network, with an IP, not finished. */
  pods: readonly V1Pod[];
  namespaces: readonly V1Namespace[];
}

type Direction = 'ingress' | 'egress';
type Family = 'ipv4' | 'ipv6';

interface RulePort {
  /** Index of the port entry in the rule (names stay stable when named ports split). */
  index: number;
  protocol?: Protocol;
  from?: number;
  to?: number;
  /** Suffix for rules split by named-port resolution. */
  variant?: string;
  /** Remote IPs restricted to these (egress named ports). */
  remotes?: string[];
}

export function eligiblePod(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return (
    !pod.spec?.hostNetwork && phase !== 'Succeeded' && phase !== 'Failed' && podIPs(pod).length > 0
  );
}

const familyOf = (cidr: string): Family => (cidr.includes(':') ? 'ipv6' : 'ipv4');

function namespaceLabels(ns: V1Namespace): Record<string, string> {
  return { 'kubernetes.io/metadata.name': ns.metadata?.name ?? '', ...(ns.metadata?.labels ?? {}) };
}

/** Pods a non-ipBlock peer selects. */
export function peerPods(
  ctx: PolicyContext,
  policyNamespace: string,
  peer: V1NetworkPolicyPeer,
): V1Pod[] {
  const nsLabels = new Map(
    ctx.namespaces.map((ns) => [ns.metadata?.name ?? '', namespaceLabels(ns)]),
  );
  return ctx.pods.filter((pod) => {
    const ns = pod.metadata?.namespace ?? '';
    if (peer.namespaceSelector) {
      const labels = nsLabels.get(ns);
      if (!labels || !matchesSelector(peer.namespaceSelector, labels)) return false;
    } else if (ns !== policyNamespace) return false;
    return peer.podSelector ? matchesSelector(peer.podSelector, pod.metadata?.labels) : true;
  });
}

function inBlock(ip: string, peer: V1NetworkPolicyPeer): boolean {
  return !!peer.ipBlock && ipBlockContains(peer.ipBlock, ip);
}

/** Remote CIDRs of a peer list; undefined means "any peer". */
function remotesOf(
  ctx: PolicyContext,
  namespace: string,
  peers: readonly V1NetworkPolicyPeer[],
): string[] | undefined {
  if (peers.length === 0) return undefined;
  const out = new Set<string>();
  for (const peer of peers) {
    if (peer.ipBlock)
      for (const cidr of subtractCidrs(peer.ipBlock.cidr, peer.ipBlock.except ?? [])) out.add(cidr);
    else
      for (const pod of peerPods(ctx, namespace, peer))
        for (const ip of podIPs(pod)) out.add(hostCidr(ip));
  }
  return [...out].sort();
}

/** Pods that are peers of the rule (for egress named ports): selected pods and pods inside ipBlocks. */
function peerPodList(
  ctx: PolicyContext,
  namespace: string,
  peers: readonly V1NetworkPolicyPeer[],
): V1Pod[] {
  if (peers.length === 0) return [...ctx.pods];
  const out = new Map<string, V1Pod>();
  for (const peer of peers) {
    const pods = peer.ipBlock
      ? ctx.pods.filter((p) => podIPs(p).some((ip) => inBlock(ip, peer)))
      : peerPods(ctx, namespace, peer);
    for (const pod of pods) out.set(`${pod.metadata?.namespace}/${pod.metadata?.name}`, pod);
  }
  return [...out.values()];
}

const isNamed = (port: V1NetworkPolicyPort['port']): port is string =>
  typeof port === 'string' && !/^\d+$/.test(port);

function rulePorts(
  direction: Direction,
  ports: readonly V1NetworkPolicyPort[],
  selected: readonly V1Pod[],
  peerList: () => V1Pod[],
): RulePort[] {
  if (ports.length === 0) return [{ index: 0 }];
  const out: RulePort[] = [];
  for (const [index, p] of ports.entries()) {
    const protocol = (p.protocol ?? 'TCP') as Protocol;
    if (p.port === undefined || p.port === null) {
      out.push({ index, protocol });
      continue;
    }
    if (!isNamed(p.port)) {
      const from = Number(p.port);
      out.push({ index, protocol, from, to: p.endPort && p.endPort >= from ? p.endPort : from });
      continue;
    }
    const name = p.port;
    if (direction === 'ingress') {
      const numbers = new Set<number>();
      for (const pod of selected) {
        const n = namedPort(pod, name, protocol);
        if (n !== undefined) numbers.add(n);
      }
      for (const n of [...numbers].sort((a, b) => a - b))
        out.push({ index, protocol, from: n, to: n, variant: String(n) });
      continue;
    }
    const byNumber = new Map<number, string[]>();
    for (const pod of peerList()) {
      const n = namedPort(pod, name, protocol);
      if (n === undefined) continue;
      byNumber.set(n, [...(byNumber.get(n) ?? []), ...podIPs(pod).map(hostCidr)]);
    }
    for (const [n, remotes] of [...byNumber].sort(([a], [b]) => a - b)) {
      out.push({
        index,
        protocol,
        from: n,
        to: n,
        variant: String(n),
        remotes: [...new Set(remotes)].sort(),
      });
    }
  }
  return out;
}

function ruleMos(
  direction: Direction,
  name: string,
  port: RulePort,
  remotes: string[] | undefined,
): Mo[] {
  const families: Family[] =
    remotes === undefined ? ['ipv4', 'ipv6'] : [...new Set(remotes.map(familyOf))].sort();
  return families.map((family) => {
    const attrs: Record<string, string> = {
      rn: `rule-${name}-${family}`,
      name: `${name}-${family}`,
      direction,
      ethertype: family,
      connTrack: 'reflexive',
    };
    if (port.protocol) attrs.protocol = port.protocol.toLowerCase();
    if (port.from !== undefined) {
      attrs.fromPort = String(port.from);
      attrs.toPort = String(port.to ?? port.from);
    }
    const ips = (remotes ?? []).filter((r) => familyOf(r) === family);
    return mo(
      'hostprotRule',
      attrs,
      ips.map((addr) => mo('hostprotRemoteIp', { rn: `ip-[${addr}]`, addr })),
    );
  });
}

function subject(
  ctx: PolicyContext,
  policy: V1NetworkPolicy,
  direction: Direction,
  selected: readonly V1Pod[],
): Mo {
  const namespace = policy.metadata?.namespace ?? '';
  const rules =
    direction === 'ingress' ? (policy.spec?.ingress ?? []) : (policy.spec?.egress ?? []);
  const children: Mo[] = [];
  rules.forEach((rule, i) => {
    // client-node names the ingress field `_from`; raw JSON carries `from`.
    const peers =
      direction === 'ingress'
        ? ((rule as { _from?: V1NetworkPolicyPeer[] })._from ??
          (rule as { from?: V1NetworkPolicyPeer[] }).from ??
          [])
        : ((rule as { to?: V1NetworkPolicyPeer[] }).to ?? []);
    const remotes = remotesOf(ctx, namespace, peers);
    if (remotes !== undefined && remotes.length === 0) return;
    let peerCache: V1Pod[] | undefined;
    const ports = rulePorts(
      direction,
      rule.ports ?? [],
      selected,
      () => (peerCache ??= peerPodList(ctx, namespace, peers)),
    );
    for (const port of ports) {
      const name = port.variant ? `${i}_${port.index}_${port.variant}` : `${i}_${port.index}`;
      const portRemotes = port.remotes ?? remotes;
      if (portRemotes !== undefined && portRemotes.length === 0) continue;
      children.push(...ruleMos(direction, name, port, portRemotes));
    }
  });
  const subj = `networkpolicy-${direction}`;
  return mo('hostprotSubj', { rn: `subj-${subj}`, name: subj }, children);
}

export function hostprotPolicyDn(
  config: ControllerConfig,
  namespace: string,
  name: string,
): string {
  return `${tenantDn(config.aci.tenant)}/pol-${networkPolicyObjectName(config, namespace, name)}`;
}

/** The hostprotPol of one NetworkPolicy. */
export function hostprotPolicy(
  config: ControllerConfig,
  policy: V1NetworkPolicy,
  ctx: PolicyContext,
): Mo {
  const namespace = policy.metadata?.namespace ?? '';
  const name = policy.metadata?.name ?? '';
  const selected = ctx.pods.filter(
    (pod) =>
      pod.metadata?.namespace === namespace &&
      matchesSelector(policy.spec?.podSelector ?? {}, pod.metadata?.labels),
  );
  const types = policyTypes(policy);
  const subjects = (['ingress', 'egress'] as const)
    .filter((d) => types.includes(d === 'ingress' ? 'Ingress' : 'Egress'))
    .map((d) => subject(ctx, policy, d, selected));
  return mo(
    'hostprotPol',
    {
      dn: hostprotPolicyDn(config, namespace, name),
      name: networkPolicyObjectName(config, namespace, name),
    },
    subjects,
  );
}
