/**
 * acc-provision input file → AciFabric (pure). Every setting that has an
 * AciFabric field is carried over; everything else is listed with the
 * reason it has no equivalent, so nothing is dropped silently. The result
 * takes over what acc-provision made (`provision: Fabric`,
 * `adoptExisting: true`) and authenticates with acc-provision's own Secret
 * (`aci-user-cert`, keys `user.key` / `user.crt`) as it is.
 */
import ipaddr from 'ipaddr.js';
import {
  AciFabricKind,
  AciFabricSpec,
  apiVersion,
  type AciFabricSpecInput,
} from '../../../crds/index.ts';

/** acc-provision's default service_monitor_interval (seconds). */
const accProvisionMonitorInterval = 5;

/** The Secret acc-provision's generated manifests create for the controller. */
export const AccProvisionSecret = 'aci-user-cert';

export interface Unmigrated {
  /** Dotted path in the acc-provision file. */
  path: string;
  reason: string;
}

export interface MigrationResult {
  fabric: {
    apiVersion: string;
    kind: typeof AciFabricKind;
    metadata: { name: string };
    spec: AciFabricSpecInput;
  };
  unmigrated: Unmigrated[];
}

type Tree = Record<string, unknown>;

const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): string[] =>
  v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : [String(v)];

/** Reasons for settings acc-provision has and the AciFabric deliberately does not. */
const knownReasons: Array<[RegExp, string]> = [
  [
    /^aci_config\.apic_login/,
    'admin credentials are never stored: give them by Secret reference to the create-user command once',
  ],
  [
    /^aci_config\.physical_domain/,
    'the physical domain and its VLAN pool are named <systemId>-pdom and <systemId>-pool',
  ],
  [/^aci_config\.vmm_domain\.controller$/, 'the VMM controller is named after the systemId'],
  [
    /^aci_config\.vmm_domain\.(mcast_pool|vlan_pool)$/,
    'pools are named <systemId>-mpool and <systemId>-vpool',
  ],
  [/^aci_config\.apic_version$/, 'the controller works with the APIC it finds'],
  [/^registry\./, "images come from this project's registry (spec.images)"],
  [/^kube_config\./, 'no equivalent in this implementation'],
  [/^operator_managed_config\./, 'the operator always manages the installation'],
  [
    /^aci_config\.sync_login\.(certfile|keyfile)$/,
    `local file names: the key and certificate live in the Secret ${AccProvisionSecret}`,
  ],
];

function reasonFor(path: string): string {
  for (const [pattern, reason] of knownReasons) if (pattern.test(path)) return reason;
  return 'no AciFabric equivalent';
}

const logLevels: Record<string, 'debug' | 'info' | 'warn' | 'error'> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
};

export function migrateAccProvision(
  input: unknown,
  options: { name?: string; namespace?: string } = {},
): MigrationResult {
  if (!isTree(input)) throw new Error('an acc-provision input file is a YAML mapping');
  const used = new Set<string>();
  const unmigrated: Unmigrated[] = [];
  const get = (path: string): unknown => {
    let node: unknown = input;
    for (const part of path.split('.')) node = isTree(node) ? node[part] : undefined;
    if (node !== undefined) used.add(path);
    return node;
  };
  const str = (path: string) => {
    const v = get(path);
    return v === undefined || v === null ? undefined : String(v);
  };
  const num = (path: string) => {
    const v = get(path);
    return v === undefined || v === null ? undefined : Number(v);
  };
  const drop = (path: string, reason: string) => {
    used.add(path);
    unmigrated.push({ path, reason });
  };

  const systemId = str('aci_config.system_id');
  if (!systemId) throw new Error('aci_config.system_id is required');
  const legacy = get('aci_config.use_legacy_kube_naming_convention') === true;
  const preexistingTenant = str('aci_config.tenant.name');
  const clusterTenant = str('aci_config.cluster_tenant');
  const user = str('aci_config.sync_login.username') ?? systemId;

  const nodeSubnets = list(get('net_config.node_subnet'));
  if (nodeSubnets.length > 1)
    drop(
      'net_config.node_subnet',
      `one node subnet per AciFabric: kept ${nodeSubnets[0]}, left out ${nodeSubnets.slice(1).join(', ')}`,
    );
  // The AciFabric refuses IPv6 subnets while the data plane carries IPv4 only (docs/dataplane.md, Dual stack).
  const ipv4Subnets = (path: string): string[] => {
    const all = list(get(path));
    const v4 = all.filter(
      (s) => !(ipaddr.isValidCIDR(s) && ipaddr.parseCIDR(s)[0].kind() === 'ipv6'),
    );
    if (v4.length < all.length)
      drop(
        path,
        `IPv6 left out (the data plane does not carry IPv6 yet): ${all.filter((s) => !v4.includes(s)).join(', ')}`,
      );
    return v4;
  };
  const chunk = num('net_config.pod_subnet_chunk_size');
  const chunkIsPowerOfTwo = chunk !== undefined && chunk >= 2 && (chunk & (chunk - 1)) === 0;
  if (chunk !== undefined && !chunkIsPowerOfTwo)
    drop(
      'net_config.pod_subnet_chunk_size',
      `${chunk} is not a power of two: the default 32 applies`,
    );

  const vlanRange = get('aci_config.vmm_domain.vlan_range');
  const nested = get('aci_config.vmm_domain.nested_inside');
  const nestedType = isTree(nested) ? String(nested.type ?? '') : '';
  if (isTree(nested))
    for (const key of Object.keys(nested))
      if (key !== 'type' && key !== 'name')
        drop(`aci_config.vmm_domain.nested_inside.${key}`, 'no AciFabric equivalent');
  const mtu = num('net_config.interface_mtu');
  const monitor = num('net_config.service_monitor_interval');
  const level = (path: string) => {
    const v = str(path);
    if (v === undefined) return undefined;
    const mapped = logLevels[v.toLowerCase()];
    if (mapped === undefined) drop(path, `log level ${v} unknown`);
    return mapped;
  };
  const logging = {
    controller: level('logging.controller_log_level'),
    hostAgent: level('logging.hostagent_log_level'),
    opflexAgent: level('logging.opflexagent_log_level'),
  };

  const spec: AciFabricSpecInput = {
    systemId,
    ...(options.namespace ? { namespace: options.namespace } : {}),
    apic: {
      hosts: list(get('aci_config.apic_hosts')),
      credentials: {
        method: 'Certificate',
        secretRef: { name: AccProvisionSecret },
        certificateName: `${user}.crt`,
        username: user,
      },
    },
    aci: {
      tenant: preexistingTenant
        ? { name: preexistingTenant, preexisting: true }
        : clusterTenant
          ? { name: clusterTenant }
          : {},
      vrf: { name: str('aci_config.vrf.name') ?? '', tenant: str('aci_config.vrf.tenant') ?? '' },
      l3out: {
        name: str('aci_config.l3out.name') ?? '',
        externalNetworks: list(get('aci_config.l3out.external_networks')),
      },
      aep: str('aci_config.aep') ?? '',
      vmmDomain: {
        ...(str('aci_config.vmm_domain.domain')
          ? { name: str('aci_config.vmm_domain.domain') }
          : {}),
        encapType: str('aci_config.vmm_domain.encap_type') === 'vlan' ? 'vlan' : 'vxlan',
        multicastRange: {
          start: str('aci_config.vmm_domain.mcast_range.start') ?? '',
          end: str('aci_config.vmm_domain.mcast_range.end') ?? '',
        },
        ...(str('aci_config.vmm_domain.mcast_fabric')
          ? { multicastFabricAddress: str('aci_config.vmm_domain.mcast_fabric') }
          : {}),
        ...(isTree(vlanRange)
          ? {
              vlanPool: {
                start: num('aci_config.vmm_domain.vlan_range.start') ?? 0,
                end: num('aci_config.vmm_domain.vlan_range.end') ?? 0,
              },
            }
          : {}),
        ...(nestedType === 'vmware' || nestedType === 'openstack'
          ? {
              nestedInside: {
                type: nestedType,
                name: str('aci_config.vmm_domain.nested_inside.name') ?? '',
              },
            }
          : {}),
        ...(str('kube_config.controller')
          ? { controllerAddress: str('kube_config.controller') }
          : {}),
      },
      legacyNaming: legacy,
      provision: 'Fabric',
      adoptExisting: true,
      ...(get('aci_config.custom_epgs') !== undefined
        ? { customEndpointGroups: list(get('aci_config.custom_epgs')) }
        : {}),
      serviceMonitorInterval: monitor ?? accProvisionMonitorInterval,
    },
    network: {
      nodeSubnet: nodeSubnets[0] ?? '',
      podSubnets: ipv4Subnets('net_config.pod_subnet'),
      ...(chunkIsPowerOfTwo ? { podSubnetChunkSize: chunk } : {}),
      nodeServiceSubnet: ipv4Subnets('net_config.node_svc_subnet')[0] ?? '',
      ...(get('net_config.extern_dynamic') !== undefined
        ? { externDynamic: ipv4Subnets('net_config.extern_dynamic') }
        : {}),
      ...(get('net_config.extern_static') !== undefined
        ? { externStatic: ipv4Subnets('net_config.extern_static') }
        : {}),
      kubeapiVlan: num('net_config.kubeapi_vlan') ?? 0,
      serviceVlan: num('net_config.service_vlan') ?? 0,
      infraVlan: num('net_config.infra_vlan') ?? 0,
      ...(mtu !== undefined ? { mtu } : {}),
    },
    ...(Object.values(logging).some((v) => v !== undefined)
      ? {
          logging: {
            controller: logging.controller ?? 'info',
            hostAgent: logging.hostAgent ?? 'info',
            opflexAgent: logging.opflexAgent ?? 'info',
            openvswitch: 'info',
          },
        }
      : {}),
  };
  if (list(get('net_config.node_svc_subnet')).length > 1)
    drop('net_config.node_svc_subnet', 'one node service subnet per AciFabric: the first is kept');

  for (const path of leafPaths(input))
    if (![...used].some((u) => path === u || path.startsWith(`${u}.`)))
      unmigrated.push({ path, reason: reasonFor(path) });

  const parsed = AciFabricSpec.safeParse(spec);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`);
    throw new Error(`The migrated AciFabric is invalid:\n  ${issues.join('\n  ')}`);
  }
  return {
    fabric: {
      apiVersion,
      kind: AciFabricKind,
      metadata: { name: options.name ?? systemId.toLowerCase().replace(/[^a-z0-9-]/g, '-') },
      spec,
    },
    unmigrated: unmigrated.sort((a, b) => a.path.localeCompare(b.path)),
  };
}

function leafPaths(tree: Tree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([key, value]) =>
    isTree(value) ? leafPaths(value, `${prefix}${key}.`) : [`${prefix}${key}`],
  );
}
