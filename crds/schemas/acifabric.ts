/**
 * AciFabric: the one object a user writes to install the CNI on an ACI
 * fabric. It covers what acc-provision's input covers for a Kubernetes
 * flavour (aci_config, net_config, registry, logging) and adds per-component
 * placement. Cross-field rules live in `networkRules` etc. as pairs of a CEL
 * expression (enforced by the API server) and the same check in TypeScript
 * (enforced by zod), so both reject the same specs with the same message.
 */
import { z } from 'zod';
import {
  familyBits,
  parseCidr,
  parseIp,
  prefixesOverlap,
  type Prefix,
} from '../../lib/net/cidr.ts';

const isIpv4Multicast = (text: string): boolean => {
  const ip = parseIp(text);
  return ip !== undefined && ip.family === 4 && ip.value >> 28n === 0xen;
};

const ipv4Value = (text: string): bigint | undefined => {
  const ip = parseIp(text);
  return ip?.family === 4 ? ip.value : undefined;
};

/** CEL has no IP ordering: the dotted quad as an integer (only reached for valid IPv4 addresses). */
const ipv4ValueCel = (field: string) =>
  [16777216, 65536, 256, 1]
    .map((weight, i) => `int(${field}.split('.')[${i}]) * ${weight}`)
    .join(' + ');

/** An image reference part (OCI distribution spec): tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
const imageTag = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const imageTagMessage =
  'must be an image tag: letters, digits, _ . - (not starting with . or -), at most 128';
/** Lower-case path components separated by /, after an optional registry host[:port]. */
const imageRepository =
  /^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]+)?\/)?[a-z0-9]+([._-][a-z0-9]+|__[a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+|__[a-z0-9]+)*)*$/;
const imageRepositoryMessage =
  'must be an image repository such as registry.example.com:5000/team/image (lower-case path, no tag)';
import { Opflex } from './opflex.ts';
import {
  apicName,
  cel,
  cidr,
  conditions,
  dnsLabel,
  ipAddress,
  kindObject,
  observedGeneration,
  Resources,
  SecretReference,
  Toleration,
  vlan,
  withRules,
  type DualRule,
} from './common.ts';

export const AciFabricKind = 'AciFabric';

const chunkSizes = Array.from({ length: 16 }, (_, i) => 2 ** (i + 1)); // 2 .. 65536
const chunkLog2Cel = `{${chunkSizes.map((size, i) => `${size}: ${i + 1}`).join(', ')}}`;

// ---------------------------------------------------------------- network
/**
 * The OVS pipeline carries IPv4 only (docs/dataplane.md, "Dual stack"): an
 * IPv6 pod subnet would give pods addresses and a `::/0` route whose every
 * packet the spoof guard drops, an IPv6 service or LoadBalancer subnet
 * frontends nothing serves. Refused here, the first point a spec enters,
 * until the data plane carries the family end to end.
 */
const DataplaneFamilyMessage =
  'must be an IPv4 CIDR: the data plane does not carry IPv6 yet (docs/dataplane.md, Dual stack)';
const ipv4Only = <S extends z.ZodType<string>>(schema: S): S =>
  withRules(schema, [
    {
      // A malformed CIDR is reported by the field's own isCIDR rule.
      rule: '!isCIDR(self) || cidr(self).ip().family() == 4',
      message: DataplaneFamilyMessage,
      check: (text) => parseCidr(text)?.family !== 6,
    },
  ]);

const NetworkBase = z.object({
  nodeSubnet: cidr('Subnet of the node (infra) network in gateway/prefix form, e.g. 10.1.0.1/16.'),
  podSubnets: z
    .array(ipv4Only(cidr('A pod subnet in gateway/prefix form, e.g. 10.2.0.1/16.')))
    .min(1)
    .max(8)
    .meta({
      description:
        'IPv4 pod subnets that IPAM carves into per-node chunks (IPv6 is refused until the data plane carries it). Subnets can be added later but not removed.',
      ...cel({
        rule: 'oldSelf.all(s, s in self)',
        message: 'pod subnets can be added but not removed',
      }),
    }),
  podSubnetChunkSize: withRules(
    z.number().int().default(32).meta({
      description:
        'Number of pod addresses handed to a node at a time; a power of two. Default 32.',
    }),
    [
      {
        rule: `self in [${chunkSizes.join(', ')}]`,
        message: 'must be a power of two between 2 and 65536',
        check: (size) => chunkSizes.includes(size),
      },
    ],
  ),
  nodeServiceSubnet: ipv4Only(
    cidr(
      'Subnet of the per-node service endpoints used by ACI service graphs (PBR), e.g. 10.5.0.1/24.',
    ),
  ),
  externDynamic: z
    .array(ipv4Only(cidr('A subnet for dynamically assigned LoadBalancer IPs.')))
    .max(8)
    .optional()
    .meta({
      description: 'Pools for LoadBalancer Service IPs assigned automatically (extern_dynamic).',
    }),
  externStatic: z
    .array(ipv4Only(cidr('A subnet for LoadBalancer IPs requested explicitly.')))
    .max(8)
    .optional()
    .meta({
      description:
        'Pools for LoadBalancer IPs requested through spec.loadBalancerIP (extern_static).',
    }),
  kubeapiVlan: vlan('VLAN of the node (kube-api) network, 1-4094.'),
  serviceVlan: vlan('VLAN of the service (PBR) network, 1-4094.'),
  infraVlan: vlan('ACI infra VLAN of the fabric, 1-4094.'),
  uplinkInterface: z
    .string()
    .min(1)
    .max(15)
    .regex(
      /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/,
      'must be a Linux interface name (letters, digits, _ . -, at most 15)',
    )
    .default('eth1')
    .meta({
      description:
        "Each node's interface cabled to the ACI leaf (acc-provision's uplink-iface). The host agent adds it to the integration bridge: with vlan encap pod traffic leaves on it tagged with the bridge domain's encap VLAN; with vxlan encap the tunnel runs on its infra VLAN subinterface. Default eth1.",
    }),
  mtu: z
    .number()
    .int()
    .min(1280)
    .max(9000)
    .default(1500)
    .meta({ description: 'MTU of pod interfaces. Default 1500.' }),
});
type NetworkInput = z.infer<typeof NetworkBase>;

function prefixes(list: readonly string[] | undefined): Prefix[] {
  return (list ?? []).map((text) => parseCidr(text)).filter((p): p is Prefix => p !== undefined);
}

function noneOverlap(own: Prefix[], others: Prefix[]): boolean {
  return own.every(
    (p, i) =>
      own.every((q, j) => i === j || !prefixesOverlap(p, q)) &&
      others.every((q) => !prefixesOverlap(p, q)),
  );
}

const overlapsNoneCel = (own: string, others: string) =>
  `${own}.all(a, ${own}.exists_one(b, cidr(a).containsCIDR(cidr(b)) || cidr(b).containsCIDR(cidr(a))) && ` +
  `(${others}).all(b, !(cidr(a).containsCIDR(cidr(b)) || cidr(b).containsCIDR(cidr(a)))))`;

const optionalList = (field: string) => `(has(self.${field}) ? self.${field} : [])`;

/**
 * Malformed CIDRs are reported by their own field's rule; the cross-field
 * rules then hold vacuously instead of failing with CEL parse errors.
 */
const allCidrsCel =
  `([self.nodeSubnet, self.nodeServiceSubnet] + self.podSubnets + ${optionalList('externDynamic')} + ` +
  `${optionalList('externStatic')}).all(s, isCIDR(s))`;
const whenCidrsValid = (rule: string) => `!${allCidrsCel} || (${rule})`;

const allCidrsValid = (n: NetworkInput): boolean =>
  [
    n.nodeSubnet,
    n.nodeServiceSubnet,
    ...n.podSubnets,
    ...(n.externDynamic ?? []),
    ...(n.externStatic ?? []),
  ].every((text) => parseCidr(text) !== undefined);

const networkRuleList: DualRule<NetworkInput>[] = [
  {
    rule: whenCidrsValid(overlapsNoneCel('self.podSubnets', '[self.nodeSubnet]')),
    message: 'podSubnets must not overlap each other or nodeSubnet',
    fieldPath: '.podSubnets',
    reason: 'FieldValueInvalid',
    check: (n) => noneOverlap(prefixes(n.podSubnets), prefixes([n.nodeSubnet])),
  },
  {
    rule: whenCidrsValid(
      overlapsNoneCel('[self.nodeServiceSubnet]', '[self.nodeSubnet] + self.podSubnets'),
    ),
    message: 'nodeServiceSubnet must not overlap nodeSubnet or podSubnets',
    fieldPath: '.nodeServiceSubnet',
    reason: 'FieldValueInvalid',
    check: (n) =>
      noneOverlap(prefixes([n.nodeServiceSubnet]), prefixes([n.nodeSubnet, ...n.podSubnets])),
  },
  {
    rule: whenCidrsValid(
      overlapsNoneCel(
        optionalList('externDynamic'),
        '[self.nodeSubnet, self.nodeServiceSubnet] + self.podSubnets',
      ),
    ),
    message:
      'externDynamic subnets must not overlap each other, nodeSubnet, nodeServiceSubnet or podSubnets',
    fieldPath: '.externDynamic',
    reason: 'FieldValueInvalid',
    check: (n) =>
      noneOverlap(
        prefixes(n.externDynamic),
        prefixes([n.nodeSubnet, n.nodeServiceSubnet, ...n.podSubnets]),
      ),
  },
  {
    rule: whenCidrsValid(
      overlapsNoneCel(
        optionalList('externStatic'),
        `[self.nodeSubnet, self.nodeServiceSubnet] + self.podSubnets + ${optionalList('externDynamic')}`,
      ),
    ),
    message:
      'externStatic subnets must not overlap each other, externDynamic, nodeSubnet, nodeServiceSubnet or podSubnets',
    fieldPath: '.externStatic',
    reason: 'FieldValueInvalid',
    check: (n) =>
      noneOverlap(
        prefixes(n.externStatic),
        prefixes([n.nodeSubnet, n.nodeServiceSubnet, ...n.podSubnets, ...(n.externDynamic ?? [])]),
      ),
  },
  {
    rule: whenCidrsValid(
      `!(self.podSubnetChunkSize in ${chunkLog2Cel}) || self.podSubnets.all(s, ` +
        `cidr(s).prefixLength() <= (cidr(s).ip().family() == 4 ? 32 : 128) - ${chunkLog2Cel}[self.podSubnetChunkSize])`,
    ),
    message: 'podSubnetChunkSize must fit in every pod subnet',
    fieldPath: '.podSubnetChunkSize',
    reason: 'FieldValueInvalid',
    check: (n) => {
      const size = n.podSubnetChunkSize ?? 32;
      if (!chunkSizes.includes(size)) return true; // the field's own rule reports it
      const log2 = Math.log2(size);
      return prefixes(n.podSubnets).every((p) => p.length <= familyBits(p.family) - log2);
    },
  },
  {
    rule: '[self.kubeapiVlan, self.serviceVlan, self.infraVlan].all(v, [self.kubeapiVlan, self.serviceVlan, self.infraVlan].exists_one(w, w == v))',
    message: 'kubeapiVlan, serviceVlan and infraVlan must be distinct',
    fieldPath: '.serviceVlan',
    reason: 'FieldValueInvalid',
    check: (n) => new Set([n.kubeapiVlan, n.serviceVlan, n.infraVlan]).size === 3,
  },
];

/** The TypeScript side of whenCidrsValid. */
export const networkRules: DualRule<NetworkInput>[] = networkRuleList.map((rule) => ({
  ...rule,
  check: (n) => !allCidrsValid(n) || rule.check(n),
}));

// ---------------------------------------------------------------- APIC
const Credentials = withRules(
  z.object({
    secretRef: SecretReference.meta({
      description:
        'Secret with key `username` and either `password` (method Password) or `privateKey` (method Certificate, PEM); `user.key` is read when `privateKey` is absent, so the Secret acc-provision made works as it is.',
    }),
    method: z
      .enum(['Password', 'Certificate'])
      .default('Certificate')
      .meta({ description: 'Certificate (signature-based, recommended) or Password.' }),
    certificateName: apicName(
      'Name of the X.509 certificate registered on the APIC user (aaaUserCert), for method Certificate.',
    ).optional(),
    username: apicName(
      "APIC user name when the Secret has no `username` key (acc-provision's Secret holds only user.key and user.crt).",
    ).optional(),
  }),
  [
    {
      rule: "self.method != 'Certificate' || has(self.certificateName)",
      message: 'certificateName is required when method is Certificate',
      fieldPath: '.certificateName',
      reason: 'FieldValueRequired',
      check: (c) => c.method !== 'Certificate' || c.certificateName !== undefined,
    },
  ],
);

const Apic = z.object({
  hosts: z
    .array(
      z
        .string()
        .min(1)
        .max(255)
        .regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or address, optionally with :port')
        .meta({ description: 'APIC host name or address, optionally with :port.' }),
    )
    .min(1)
    .max(8)
    .meta({ description: 'APIC controllers; the controller fails over between them in order.' }),
  credentials: Credentials.meta({ description: 'How the controller authenticates to the APIC.' }),
  caBundleSecretRef: SecretReference.optional().meta({
    description:
      'Secret with key `ca.crt`: CA bundle to verify the APIC certificate. Defaults to the system CAs.',
  }),
  insecureSkipTLSVerify: z.boolean().default(false).meta({
    description: 'Skip APIC certificate verification. Never in production; logged at every start.',
  }),
});

// ---------------------------------------------------------------- ACI objects
const Tenant = z.object({
  name: apicName('Tenant of the cluster; defaults to the systemId.').optional(),
  preexisting: z.boolean().default(false).meta({
    description: 'The tenant exists already and is not owned (created or deleted) by this cluster.',
  }),
});

const Vrf = z.object({
  name: apicName('VRF of the pod and node networks.'),
  tenant: apicName('Tenant of the VRF, often common.'),
});

const L3Out = z.object({
  name: apicName('L3Out that carries external traffic of LoadBalancer Services.'),
  externalNetworks: z
    .array(apicName('External EPG (l3extInstP) under the L3Out.'))
    .min(1)
    .max(16)
    .meta({
      description: 'External networks (l3extInstP) under the L3Out that consume service contracts.',
    }),
});

const VlanRange = withRules(z.object({ start: vlan('First VLAN.'), end: vlan('Last VLAN.') }), [
  {
    rule: 'self.start <= self.end',
    message: 'start must not exceed end',
    fieldPath: '.start',
    check: (r) => r.start <= r.end,
  },
]);

const MulticastRange = withRules(
  z
    .object({
      start: ipAddress('First multicast group address of the domain.'),
      end: ipAddress('Last multicast group address of the domain.'),
    })
    .meta({ description: 'Multicast addresses for bridge-domain BUM replication (vxlan).' }),
  [
    {
      rule: "cidr('224.0.0.0/4').containsIP(self.start) && cidr('224.0.0.0/4').containsIP(self.end)",
      message: 'start and end must be IPv4 multicast addresses (224.0.0.0/4)',
      fieldPath: '.start',
      check: (r) => isIpv4Multicast(r.start) && isIpv4Multicast(r.end),
    },
    {
      // Vacuous unless both are IPv4 (the rules of the fields and the one above report the rest).
      rule:
        '!(isIP(self.start) && isIP(self.end) && ip(self.start).family() == 4 && ip(self.end).family() == 4) || ' +
        `${ipv4ValueCel('self.start')} <= ${ipv4ValueCel('self.end')}`,
      message: 'start must not be after end',
      fieldPath: '.start',
      check: (r) => {
        const [start, end] = [ipv4Value(r.start), ipv4Value(r.end)];
        return start === undefined || end === undefined || start <= end;
      },
    },
  ],
);

const VmmDomain = withRules(
  z.object({
    name: apicName('VMM domain name; defaults to the systemId.').optional(),
    encapType: z
      .enum(['vxlan', 'vlan'])
      .default('vxlan')
      .meta({ description: 'Encapsulation: vxlan or vlan.' }),
    multicastRange: MulticastRange,
    multicastFabricAddress: ipAddress(
      "Multicast address the VMM domain uses on the fabric (vmmDomP mcastAddr). Default 225.1.2.3, acc-provision's.",
    ).optional(),
    controllerAddress: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or address')
      .optional()
      .meta({
        description:
          "Address of this cluster's Kubernetes API server, recorded on the VMM controller (vmmCtrlrP hostOrIp) when the controller provisions the fabric (acc-provision's kube_config.controller).",
      }),
    vlanPool: VlanRange.optional().meta({ description: 'VLAN pool for vlan encapsulation.' }),
    nestedInside: z
      .object({
        type: z
          .enum(['vmware', 'openstack'])
          .meta({ description: 'Hypervisor the nodes are VMs of.' }),
        name: apicName('Name of that hypervisor VMM domain.'),
      })
      .optional()
      .meta({ description: 'Set when the Kubernetes nodes are VMs in another VMM domain.' }),
  }),
  [
    {
      rule: "self.encapType != 'vlan' || has(self.vlanPool)",
      message: 'vlanPool is required when encapType is vlan',
      fieldPath: '.vlanPool',
      reason: 'FieldValueRequired',
      check: (d) => d.encapType !== 'vlan' || d.vlanPool !== undefined,
    },
  ],
);

const Aci = z.object({
  tenant: Tenant.default({ preexisting: false }).meta({
    description: 'Tenant of the cluster objects.',
  }),
  vrf: Vrf.meta({ description: 'VRF (fvCtx) of the pod, node and service networks.' }),
  l3out: L3Out.meta({ description: 'L3Out for external (LoadBalancer) traffic.' }),
  aep: apicName('Attachable access entity profile of the nodes.'),
  vmmDomain: VmmDomain.meta({ description: 'The Kubernetes VMM domain of this cluster.' }),
  legacyNaming: z.boolean().default(false).meta({
    description:
      'Use the pre-5.0 object names (kube-default, kube-system, kube-nodes) instead of aci-containers-<systemId>-*.',
  }),
  provision: z.enum(['Fabric', 'Tenant', 'None']).default('None').meta({
    description:
      "What the controller creates beyond its own dynamic objects and tenant skeleton, as acc-provision did: Fabric (VLAN and multicast pools, VMM and physical domains, the AEP's domain relations and infra VLAN, opflex settings, plus everything of Tenant), Tenant (EPG contracts and filters for DNS, API server, health checks and ICMP, custom EPGs, the node BD's L3Out relation, the L3Out allow contract in the VRF tenant), or None (the fabric team provisions them). Objects the cluster does not own are never changed. Default None.",
  }),
  adoptExisting: z.boolean().default(false).meta({
    description:
      "Take over objects annotated orchestrator:aci-containers-controller (made by acc-provision and the original controller) where this cluster desires them, instead of leaving them as foreign. Preview with the migrate command's adopt --dry-run first.",
  }),
  customEndpointGroups: z
    .array(apicName('An extra EPG in the cluster application profile (acc-provision custom_epgs).'))
    .max(64)
    .optional()
    .meta({
      description:
        'Extra EPGs for pods (EndpointGroupMapping targets), created with the pod BD, the VMM domain and the default EPG contracts when provision is Tenant or Fabric.',
    }),
  opflex: Opflex.optional().meta({
    description:
      "The nodes' OpFlex session with the leaf (acc-provision's opflex-agent settings): each node's opflex agent declares its pods to the leaf and resolves their EPGs' policy, so ACI contracts between EPGs hold on the node. Without it the nodes enforce no ACI contracts (only NetworkPolicy); the fabric still may.",
  }),
  serviceMonitorInterval: z.number().int().min(0).max(300).default(0).meta({
    description:
      "Seconds between IP SLA probes of each node's service endpoint (fvIPSLAMonitoringPol slaFrequency); a redirect health group per node stops PBR to a node that does not answer. 0 (the default) turns tracking off; acc-provision used 5 (aci-service-monitor-interval), which the migration carries over.",
  }),
});

// ---------------------------------------------------------------- images, placement, logging
const ImageOverride = z.object({
  repository: z
    .string()
    .min(1)
    .max(255)
    .regex(imageRepository, imageRepositoryMessage)
    .optional()
    .meta({ description: 'Image repository without tag.' }),
  tag: z
    .string()
    .min(1)
    .max(128)
    .regex(imageTag, imageTagMessage)
    .optional()
    .meta({ description: 'Image tag.' }),
});

const Images = z.object({
  registry: z
    .string()
    .min(1)
    .max(255)
    .regex(imageRepository, imageRepositoryMessage)
    .default('ghcr.io/aci-cni')
    .meta({ description: 'Registry and path prefix of every image.' }),
  tag: z
    .string()
    .min(1)
    .max(128)
    .regex(imageTag, imageTagMessage)
    .default('0.1.0')
    .meta({ description: 'Tag of every image unless overridden.' }),
  pullPolicy: z
    .enum(['Always', 'IfNotPresent', 'Never'])
    .default('IfNotPresent')
    .meta({ description: 'Image pull policy of every container.' }),
  pullSecrets: z
    .array(dnsLabel('Name of an image pull Secret in the fabric namespace.'))
    .max(8)
    .optional()
    .meta({ description: 'Image pull Secrets, by reference.' }),
  controller: ImageOverride.optional().meta({
    description: 'Override for aci-containers-controller.',
  }),
  hostAgent: ImageOverride.optional().meta({ description: 'Override for aci-containers-host.' }),
  opflexAgent: ImageOverride.optional().meta({ description: 'Override for opflex-agent.' }),
  mcastDaemon: ImageOverride.optional().meta({ description: 'Override for mcast-daemon.' }),
  openvswitch: ImageOverride.optional().meta({
    description: 'Override for aci-containers-openvswitch.',
  }),
});

const Placement = z.object({
  nodeSelector: z
    .record(z.string(), z.string())
    .optional()
    .meta({ description: 'Node labels the pods require.' }),
  tolerations: z
    .array(Toleration)
    .max(16)
    .optional()
    .meta({ description: 'Extra tolerations (node agents tolerate every taint already).' }),
  resources: Resources.optional(),
  priorityClassName: z.string().max(253).optional().meta({
    description: 'Priority class; defaults to system-node-critical / system-cluster-critical.',
  }),
});

const Components = z.object({
  controller: Placement.extend({
    replicas: z
      .number()
      .int()
      .min(1)
      .max(5)
      .default(1)
      .meta({ description: 'Replicas; one leads (Lease), the others stand by.' }),
  })
    .default({ replicas: 1 })
    .meta({ description: 'The aci-containers-controller Deployment.' }),
  hostAgent: Placement.default({}).meta({ description: 'The aci-containers-host DaemonSet.' }),
  openvswitch: Placement.default({}).meta({
    description: 'The aci-containers-openvswitch DaemonSet.',
  }),
  maxUnavailable: z
    .union([z.number().int().min(1), z.string().regex(/^[0-9]+%$/)])
    .default(1)
    .meta({
      'x-kubernetes-int-or-string': true,
      description: 'Rolling update budget of the node DaemonSets (count or percentage). Default 1.',
    }),
});

const logLevel = (description: string) =>
  z.enum(['debug', 'info', 'warn', 'error']).default('info').meta({ description });

const Logging = z.object({
  controller: logLevel('Log level of aci-containers-controller.'),
  hostAgent: logLevel('Log level of the host agent.'),
  opflexAgent: logLevel('Log level of the opflex agent.'),
  openvswitch: logLevel('Log level of the Open vSwitch supervisor.'),
});

// ---------------------------------------------------------------- spec and status
export const AciFabricSpec = z.object({
  systemId: z
    .string()
    .min(1)
    .max(32)
    .regex(/^[a-zA-Z0-9_-]+$/, 'must be letters, digits, _ and - (at most 32)')
    .meta({
      description:
        'Unique name of this cluster on the fabric; prefixes every APIC object. Immutable.',
      ...cel({ rule: 'self == oldSelf', message: 'systemId is immutable' }),
    }),
  namespace: dnsLabel('Namespace of the CNI components. Default aci-containers-system.').default(
    'aci-containers-system',
  ),
  apic: Apic.meta({ description: 'APIC controllers and how to reach them.' }),
  aci: Aci.meta({ description: 'ACI objects the cluster uses or creates (aci_config).' }),
  network: withRules(
    NetworkBase.meta({ description: 'Address plan of the cluster (net_config).' }),
    networkRules,
  ),
  images: Images.meta({ description: 'Container images of the components.' }).default({
    registry: 'ghcr.io/aci-cni',
    tag: '0.1.0',
    pullPolicy: 'IfNotPresent',
  }),
  components: Components.meta({ description: 'Placement and resources per component.' }).default({
    controller: { replicas: 1 },
    hostAgent: {},
    openvswitch: {},
    maxUnavailable: 1,
  }),
  logging: Logging.meta({ description: 'Log levels per component.' }).default({
    controller: 'info',
    hostAgent: 'info',
    opflexAgent: 'info',
    openvswitch: 'info',
  }),
});
export type AciFabricSpec = z.infer<typeof AciFabricSpec>;
export type AciFabricSpecInput = z.input<typeof AciFabricSpec>;

const ComponentStatus = z.object({
  desired: z.number().int().min(0).meta({ description: 'Pods wanted.' }),
  updated: z.number().int().min(0).meta({ description: 'Pods running the current template.' }),
  ready: z.number().int().min(0).meta({ description: 'Pods ready.' }),
  available: z.number().int().min(0).meta({ description: 'Pods available.' }),
  summary: z.string().max(32).meta({ description: 'ready/desired, for kubectl get.' }),
});

export const AciFabricStatus = z.object({
  observedGeneration: observedGeneration(),
  conditions: conditions(),
  components: z
    .object({
      controller: ComponentStatus.optional().meta({ description: 'The controller Deployment.' }),
      hostAgent: ComponentStatus.optional().meta({ description: 'The host DaemonSet.' }),
      openvswitch: ComponentStatus.optional().meta({ description: 'The Open vSwitch DaemonSet.' }),
    })
    .optional()
    .meta({ description: 'Rollout of each component (written by the operator).' }),
  apic: z
    .object({
      connected: z.boolean().meta({ description: 'The controller has a live APIC session.' }),
      host: z.string().optional().meta({ description: 'APIC host in use.' }),
      lastFullSync: z
        .string()
        .optional()
        .meta({ description: 'End of the last full resync.', format: 'date-time' }),
      objectsOwned: z
        .number()
        .int()
        .min(0)
        .optional()
        .meta({ description: 'APIC objects tagged as this cluster.' }),
      lastError: z.string().max(4096).optional().meta({ description: 'Last APIC error, if any.' }),
      cleanedUp: z.boolean().optional().meta({
        description: 'Set by the controller once it removed its APIC objects after deletion began.',
      }),
      provisioned: z
        .enum(['Fabric', 'Tenant', 'None'])
        .optional()
        .meta({ description: 'spec.aci.provision as the controller applies it.' }),
      conflicts: z.array(z.string().max(1024)).max(32).optional().meta({
        description:
          'Desired DNs held by objects this cluster does not own (left untouched; first 32).',
      }),
    })
    .optional()
    .meta({ description: 'APIC session and sync state (written by the controller).' }),
  ipam: z
    .object({
      podAddresses: z
        .string()
        .max(64)
        .meta({ description: 'Total pod addresses in the pod subnets.' }),
      podAddressesAssigned: z
        .string()
        .max(64)
        .meta({ description: 'Pod addresses assigned to nodes in chunks.' }),
      nodes: z.number().int().min(0).meta({ description: 'Nodes with a PodIPPool.' }),
      loadBalancerIPsInUse: z
        .number()
        .int()
        .min(0)
        .meta({ description: 'LoadBalancer IPs assigned.' }),
    })
    .optional()
    .meta({ description: 'IPAM totals (written by the controller).' }),
});
export type AciFabricStatus = z.infer<typeof AciFabricStatus>;

export const AciFabric = kindObject(AciFabricKind, AciFabricSpec, AciFabricStatus);
export type AciFabric = z.infer<typeof AciFabric>;
