/**
 * The cluster's own APIC objects (pure), as the original creates them when
 * the cluster owns them: the tenant (unless preexisting), the application
 * profile with the default, system and nodes EPGs, the pod and node bridge
 * domains, the kubernetes-service bridge domain, the service container, and
 * the static host protection policies every pod gets (discovery: ARP,
 * ICMP, ICMPv6 both ways; static-ingress / static-egress: everything, used
 * for pods no NetworkPolicy isolates).
 */
import type { ControllerConfig } from '../../../lib/config/components.ts';
import { formatGatewayCidr, parseCidr } from '../../../lib/net/cidr.ts';
import { makeMo as mo, type Mo } from '../apic/mo.ts';
import { dns, staticPolicyName } from '../apicnames.ts';

export const StaticKey = 'static';

function bridgeDomain(name: string, vrf: string, subnets: readonly string[]): Mo {
  return mo('fvBD', { rn: `BD-${name}`, name, arpFlood: 'yes', unicastRoute: 'yes' }, [
    mo('fvRsCtx', { rn: 'rsctx', tnFvCtxName: vrf }),
    ...subnets
      .filter((s) => parseCidr(s))
      .map((ip) => mo('fvSubnet', { rn: `subnet-[${ip}]`, ip, scope: 'public' })),
  ]);
}

/** fvSubnet takes the gateway/prefix form. */
function gatewayForm(cidr: string): string {
  const p = parseCidr(cidr);
  return p ? formatGatewayCidr(p) : cidr;
}

function rule(
  name: string,
  direction: 'ingress' | 'egress',
  ethertype: string,
  protocol?: string,
): Mo {
  return mo('hostprotRule', {
    rn: `rule-${name}`,
    name,
    direction,
    ethertype,
    connTrack: 'reflexive',
    ...(protocol ? { protocol } : {}),
  });
}

function staticPolicies(config: ControllerConfig, tenantDn: string): Mo[] {
  const pol = (which: 'discovery' | 'ingress' | 'egress', subjects: Mo[]) =>
    mo(
      'hostprotPol',
      {
        dn: `${tenantDn}/pol-${staticPolicyName(config, which)}`,
        name: staticPolicyName(config, which),
      },
      subjects,
    );
  const subj = (name: string, rules: Mo[]) =>
    mo('hostprotSubj', { rn: `subj-${name}`, name }, rules);
  return [
    pol('discovery', [
      subj('discovery', [
        rule('arp-ingress', 'ingress', 'arp'),
        rule('arp-egress', 'egress', 'arp'),
        rule('icmp-ingress', 'ingress', 'ipv4', 'icmp'),
        rule('icmp-egress', 'egress', 'ipv4', 'icmp'),
        rule('icmpv6-ingress', 'ingress', 'ipv6', 'icmpv6'),
        rule('icmpv6-egress', 'egress', 'ipv6', 'icmpv6'),
      ]),
    ]),
    pol('ingress', [
      subj('ingress', [
        rule('allow-all-ipv4', 'ingress', 'ipv4'),
        rule('allow-all-ipv6', 'ingress', 'ipv6'),
      ]),
    ]),
    pol('egress', [
      subj('egress', [
        rule('allow-all-ipv4', 'egress', 'ipv4'),
        rule('allow-all-ipv6', 'egress', 'ipv6'),
      ]),
    ]),
  ];
}

export function staticObjects(config: ControllerConfig): Mo[] {
  const d = dns(config);
  const { aci, network } = config;
  const epgs = [aci.defaultEndpointGroup, aci.systemEndpointGroup, aci.nodesEndpointGroup]
    .filter((e) => e.tenant === aci.tenant && e.applicationProfile === aci.applicationProfile)
    .map((e) =>
      mo('fvAEPg', { rn: `epg-${e.name}`, name: e.name }, [
        mo('fvRsBd', {
          rn: 'rsbd',
          tnFvBDName: e === aci.nodesEndpointGroup ? aci.nodeBridgeDomain : aci.podBridgeDomain,
        }),
        mo('fvRsDomAtt', { rn: `rsdomAtt-[${d.vmmDomain}]`, tDn: d.vmmDomain }),
      ]),
    );
  const tenantChildren: Mo[] = [
    mo('fvAp', { rn: `ap-${aci.applicationProfile}`, name: aci.applicationProfile }, epgs),
    bridgeDomain(aci.podBridgeDomain, aci.vrf.name, network.podSubnets.map(gatewayForm)),
    bridgeDomain(aci.nodeBridgeDomain, aci.vrf.name, [gatewayForm(network.nodeSubnet)]),
  ];
  const serviceBd = bridgeDomain(aci.serviceBridgeDomain, aci.vrf.name, [
    gatewayForm(network.nodeServiceSubnet),
  ]);
  const svcCont = mo('vnsSvcCont', { rn: 'svcCont' });
  const policies = staticPolicies(config, d.clusterTenant).map(asChild);
  const sameTenant = d.vrfTenant === d.clusterTenant;
  const ownChildren = [...tenantChildren, ...policies, ...(sameTenant ? [serviceBd, svcCont] : [])];
  const roots = aci.tenantPreexisting
    ? ownChildren.map((c) => withDn(d.clusterTenant, c))
    : [mo('fvTenant', { dn: d.clusterTenant, name: aci.tenant }, ownChildren)];
  // The service objects live in the VRF tenant (with the L3Out); it is never ours to create.
  return sameTenant
    ? roots
    : [...roots, withDn(d.vrfTenant, serviceBd), withDn(d.vrfTenant, svcCont)];
}

/** A root (dn) as a child (rn) of its parent. */
function asChild(root: Mo): Mo {
  const [cls, body] = Object.entries(root)[0] as [
    string,
    { attributes?: Record<string, string>; children?: Mo[] },
  ];
  const { dn = '', ...attributes } = body.attributes ?? {};
  return mo(cls, { rn: dn.slice(dn.lastIndexOf('/') + 1), ...attributes }, body.children ?? []);
}

/** A child (rn) as a root (dn) under `parent`. */
function withDn(parent: string, child: Mo): Mo {
  const [cls, body] = Object.entries(child)[0] as [
    string,
    { attributes?: Record<string, string>; children?: Mo[] },
  ];
  const { rn = '', ...attributes } = body.attributes ?? {};
  return mo(cls, { dn: `${parent}/${rn}`, ...attributes }, body.children ?? []);
}
