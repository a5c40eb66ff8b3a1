/**
 * What acc-provision used to create on the APIC, rendered from the
 * controller's config (pure): one list per owner key.
 *
 *  - `provision/fabric` (spec.aci.provision Fabric): the static VLAN pool
 *    (kube-api and service VLANs), the dynamic VLAN pool for vlan encap, the
 *    multicast address pool, the Kubernetes VMM domain with its controller,
 *    the physical domain, the AEP's domain relations, the infra VLAN on the
 *    AEP and the node EPG on the kube-api VLAN, the opflex settings, and for
 *    nodes nested in VMware the port group of the node VMs.
 *  - `provision/tenant` (Tenant or Fabric): filters and contracts for DNS,
 *    the API server, health checks and ICMP, the EPGs' provider and consumer
 *    relations, the node EPG's physical domain with its encap, custom EPGs,
 *    the node BD's L3Out relation; in the VRF tenant the L3Out allow-all
 *    contract, provided by the configured external networks.
 *
 * The tenant, application profile, the three EPGs and the two BDs stay in
 * the `static` key (policy/static.ts); this key adds children to them by DN,
 * so neither key claims the other's objects. Objects the cluster does not
 * own (a preexisting AEP, external EPG, opflex settings) are only passed
 * through by the sync engine, never changed.
 */
import type { ControllerConfig } from '../../../lib/config/components.ts';
import { makeMo as mo, type Mo } from '../apic/mo.ts';
import { dns } from '../apicnames.ts';
import {
  aepDn,
  defaultFabricMulticast,
  dynamicVlanPoolDn,
  infraEpgDn,
  multicastPoolDn,
  opflexSettingsDn,
  physDomainDn,
  provisionNames,
  staticVlanPoolDn,
  vmmDomainDn,
  type ProvisionNames,
} from './names.ts';

export const FabricKey = 'provision/fabric';
export const TenantKey = 'provision/tenant';

export type ProvisionScope = ControllerConfig['aci']['provision'];

export interface ProvisionObjects {
  [FabricKey]: Mo[];
  [TenantKey]: Mo[];
}

export function provisionObjects(config: ControllerConfig): ProvisionObjects {
  const scope = config.aci.provision;
  return {
    [FabricKey]: scope === 'Fabric' ? fabricObjects(config) : [],
    [TenantKey]: scope === 'Fabric' || scope === 'Tenant' ? tenantObjects(config) : [],
  };
}

// ---------------------------------------------------------------- fabric

const vlanText = (id: number) => `vlan-${id}`;

function encapBlock(from: number, to: number, allocMode?: 'static' | 'dynamic'): Mo {
  return mo('fvnsEncapBlk', {
    rn: `from-[${vlanText(from)}]-to-[${vlanText(to)}]`,
    ...(allocMode ? { allocMode } : {}),
    from: vlanText(from),
    to: vlanText(to),
  });
}

function staticVlanPool(config: ControllerConfig, names: ProvisionNames): Mo {
  const { kubeapiVlan, serviceVlan } = config.network;
  return mo(
    'fvnsVlanInstP',
    { dn: staticVlanPoolDn(names), name: names.staticVlanPool, allocMode: 'static' },
    [
      encapBlock(kubeapiVlan, kubeapiVlan, 'static'),
      encapBlock(serviceVlan, serviceVlan, 'static'),
    ],
  );
}

function dynamicVlanPool(range: { start: number; end: number }, names: ProvisionNames): Mo {
  return mo(
    'fvnsVlanInstP',
    { dn: dynamicVlanPoolDn(names), name: names.dynamicVlanPool, allocMode: 'dynamic' },
    [encapBlock(range.start, range.end, 'dynamic')],
  );
}

function multicastPool(config: ControllerConfig, names: ProvisionNames): Mo {
  const { start, end } = config.aci.vmmDomain.multicastRange;
  return mo('fvnsMcastAddrInstP', { dn: multicastPoolDn(names), name: names.multicastPool }, [
    mo('fvnsMcastAddrBlk', { rn: `fromaddr-[${start}]-toaddr-[${end}]`, from: start, to: end }),
  ]);
}

function vmmDomain(config: ControllerConfig, names: ProvisionNames): Mo {
  const domain = config.aci.vmmDomain;
  const vlan = domain.encapType === 'vlan' && domain.vlanPool !== undefined;
  return mo(
    'vmmDomP',
    {
      dn: vmmDomainDn(domain.name),
      name: domain.name,
      mode: 'k8s',
      enfPref: 'sw',
      encapMode: domain.encapType,
      prefEncapMode: domain.encapType,
      mcastAddr: domain.multicastFabricAddress ?? defaultFabricMulticast,
    },
    [
      mo('vmmCtrlrP', {
        rn: `ctrlr-${domain.controller}`,
        name: domain.controller,
        mode: 'k8s',
        scope: 'kubernetes',
        ...(domain.controllerAddress ? { hostOrIp: domain.controllerAddress } : {}),
      }),
      mo('vmmRsDomMcastAddrNs', { rn: 'rsdomMcastAddrNs', tDn: multicastPoolDn(names) }),
      ...(vlan ? [mo('infraRsVlanNs', { rn: 'rsvlanNs', tDn: dynamicVlanPoolDn(names) })] : []),
    ],
  );
}

function physDomain(names: ProvisionNames): Mo {
  return mo('physDomP', { dn: physDomainDn(names), name: names.physDomain }, [
    mo('infraRsVlanNs', { rn: 'rsvlanNs', tDn: staticVlanPoolDn(names) }),
  ]);
}

function funcToEpg(tDn: string, vlan: number): Mo {
  return mo('infraRsFuncToEpg', {
    rn: `rsfuncToEpg-[${tDn}]`,
    tDn,
    encap: vlanText(vlan),
    mode: 'regular',
  });
}

function attachableEntityProfile(config: ControllerConfig, names: ProvisionNames): Mo {
  const d = dns(config);
  const domainRelation = (tDn: string) => mo('infraRsDomP', { rn: `rsdomP-[${tDn}]`, tDn });
  return mo('infraAttEntityP', { dn: aepDn(config.aci.aep), name: config.aci.aep }, [
    domainRelation(vmmDomainDn(config.aci.vmmDomain.name)),
    domainRelation(physDomainDn(names)),
    mo('infraProvAcc', { rn: 'provacc', name: 'provacc' }, [
      funcToEpg(infraEpgDn, config.network.infraVlan),
      mo('dhcpInfraProvP', { rn: 'infraprovp', mode: 'controller' }),
    ]),
    mo('infraGeneric', { rn: 'gen-default', name: 'default' }, [
      funcToEpg(d.epg(config.aci.nodesEndpointGroup), config.network.kubeapiVlan),
    ]),
  ]);
}

function opflexSettings(): Mo {
  return mo('infraSetPol', {
    dn: opflexSettingsDn,
    opflexpAuthenticateClients: 'no',
    opflexpUseSsl: 'yes',
  });
}

/** The node VMs' port group in the VMware domain they are nested in: the VLANs the nodes use. */
function nestedPortGroup(config: ControllerConfig, names: ProvisionNames): Mo | undefined {
  const nested = config.aci.vmmDomain.nestedInside;
  if (nested?.type !== 'vmware') return undefined;
  const { infraVlan, serviceVlan, kubeapiVlan } = config.network;
  return mo(
    'vmmUsrCustomAggr',
    {
      dn: `uni/vmmp-VMware/dom-${nested.name}/usrcustomaggr-${names.portGroup}`,
      name: names.portGroup,
      // vlan encap: pod traffic carries VLANs the port group does not list.
      promMode: config.aci.vmmDomain.encapType === 'vlan' ? 'Enabled' : 'Disabled',
    },
    [infraVlan, serviceVlan, kubeapiVlan].map((v) => encapBlock(v, v)),
  );
}

export function fabricObjects(config: ControllerConfig): Mo[] {
  const names = provisionNames(config);
  const domain = config.aci.vmmDomain;
  const nested = nestedPortGroup(config, names);
  return [
    staticVlanPool(config, names),
    ...(domain.encapType === 'vlan' && domain.vlanPool
      ? [dynamicVlanPool(domain.vlanPool, names)]
      : []),
    multicastPool(config, names),
    vmmDomain(config, names),
    ...(nested ? [nested] : []),
    attachableEntityProfile(config, names),
    opflexSettings(),
    physDomain(names),
  ];
}

// ---------------------------------------------------------------- tenant

type EntryAttributes = Record<string, string>;

const tcpEntry = (port: string, established = false): EntryAttributes => ({
  etherT: 'ip',
  prot: 'tcp',
  ...(port ? { dFromPort: port, dToPort: port } : {}),
  stateful: 'no',
  tcpRules: established ? 'est' : '',
});

function filter(parent: string, name: string, entries: Array<[string, EntryAttributes]>): Mo {
  return mo(
    'vzFilter',
    { dn: `${parent}/flt-${name}`, name },
    entries.map(([entry, attrs]) => mo('vzEntry', { rn: `e-${entry}`, name: entry, ...attrs })),
  );
}

const matchAtLeastOne = { consMatchT: 'AtleastOne', provMatchT: 'AtleastOne' };

function contract(parent: string, name: string, subject: string, filterName: string): Mo {
  return mo('vzBrCP', { dn: `${parent}/brc-${name}`, name }, [
    mo('vzSubj', { rn: `subj-${subject}`, name: subject, ...matchAtLeastOne }, [
      mo('vzRsSubjFiltAtt', {
        rn: `rssubjFiltAtt-${filterName}`,
        tnVzFilterName: filterName,
      }),
    ]),
  ]);
}

/** Probes go from the nodes to the pods; replies (established TCP) come back. */
function healthCheckContract(parent: string, names: ProvisionNames): Mo {
  const name = names.contract('health-check');
  const term = (cls: 'vzInTerm' | 'vzOutTerm', rn: string, filterName: string) =>
    mo(cls, { rn, name: '' }, [
      mo('vzRsFiltAtt', { rn: `rsfiltAtt-${filterName}`, tnVzFilterName: filterName }),
    ]);
  return mo('vzBrCP', { dn: `${parent}/brc-${name}`, name }, [
    mo(
      'vzSubj',
      {
        rn: 'subj-health-check-subj',
        name: 'health-check-subj',
        revFltPorts: 'yes',
        ...matchAtLeastOne,
      },
      [
        term('vzOutTerm', 'outtmnl', names.filter('health-check-filter-out')),
        term('vzInTerm', 'intmnl', names.filter('health-check-filter-in')),
      ],
    ),
  ]);
}

function clusterContracts(tenant: string, names: ProvisionNames): Mo[] {
  const [api, api2] = names.apiEntries;
  return [
    filter(tenant, names.filter('icmp-filter'), [
      ['icmp', { etherT: 'ipv4', prot: 'icmp' }],
      ['icmp6', { etherT: 'ipv6', prot: 'icmpv6' }],
    ]),
    filter(tenant, names.filter('health-check-filter-in'), [['health-check', tcpEntry('')]]),
    filter(tenant, names.filter('health-check-filter-out'), [['health-check', tcpEntry('', true)]]),
    filter(tenant, names.filter('dns-filter'), [
      ['dns-udp', { etherT: 'ip', prot: 'udp', dFromPort: 'dns', dToPort: 'dns' }],
      ['dns-tcp', tcpEntry('dns')],
    ]),
    filter(tenant, names.filter('kube-api-filter'), [
      [api, tcpEntry('6443')],
      [api2, tcpEntry('8443')],
    ]),
    contract(tenant, names.contract('kube-api'), names.apiSubject, names.filter('kube-api-filter')),
    healthCheckContract(tenant, names),
    contract(tenant, names.contract('dns'), 'dns-subj', names.filter('dns-filter')),
    contract(tenant, names.contract('icmp'), 'icmp-subj', names.filter('icmp-filter')),
  ];
}

type Relation = ['fvRsProv' | 'fvRsCons', string];

function relations(epgDn: string, list: readonly Relation[]): Mo[] {
  return list.map(([cls, contractName]) =>
    mo(cls, {
      dn: `${epgDn}/${cls === 'fvRsProv' ? 'rsprov' : 'rscons'}-${contractName}`,
      tnVzBrCPName: contractName,
    }),
  );
}

/** Who provides and consumes what, per EPG, as acc-provision's kube_tn. */
function endpointGroupRelations(config: ControllerConfig, names: ProvisionNames) {
  const c = names.contract;
  const pods: Relation[] = [
    ['fvRsCons', c('dns')],
    ['fvRsProv', c('health-check')],
    ['fvRsCons', c('icmp')],
    ['fvRsCons', c('kube-api')],
  ];
  const system: Relation[] = [
    ['fvRsProv', c('dns')],
    ['fvRsProv', c('icmp')],
    ['fvRsProv', c('health-check')],
    ['fvRsCons', c('icmp')],
    ['fvRsCons', c('kube-api')],
    ['fvRsCons', names.l3outContract],
  ];
  const nodes: Relation[] = [
    ['fvRsProv', c('dns')],
    ['fvRsProv', c('kube-api')],
    ['fvRsProv', c('icmp')],
    ['fvRsCons', c('health-check')],
    ['fvRsCons', names.l3outContract],
  ];
  return { pods, system, nodes };
}

function customEndpointGroup(config: ControllerConfig, name: string, pods: Relation[]): Mo {
  const d = dns(config);
  const epgDn = `${d.applicationProfile}/epg-${name}`;
  return mo('fvAEPg', { dn: epgDn, name }, [
    mo('fvRsBd', { rn: 'rsbd', tnFvBDName: config.aci.podBridgeDomain }),
    mo('fvRsDomAtt', { rn: `rsdomAtt-[${d.vmmDomain}]`, tDn: d.vmmDomain }),
    ...relations(epgDn, pods).map(asChildOf(epgDn)),
  ]);
}

/** A DN-addressed MO as an rn child of `parent`. */
const asChildOf =
  (parent: string) =>
  (root: Mo): Mo => {
    const [cls, body] = Object.entries(root)[0] as [
      string,
      { attributes?: Record<string, string> },
    ];
    const { dn = '', ...attributes } = body.attributes ?? {};
    return mo(cls, { rn: dn.slice(parent.length + 1), ...attributes });
  };

function l3outAllowAll(config: ControllerConfig, names: ProvisionNames): Mo[] {
  const d = dns(config);
  return [
    filter(d.vrfTenant, names.l3outFilter, [['allow-all', {}]]),
    contract(d.vrfTenant, names.l3outContract, 'allow-all-subj', names.l3outFilter),
    ...config.aci.l3out.externalNetworks.map((network) =>
      mo('fvRsProv', {
        dn: `${d.l3out}/instP-${network}/rsprov-${names.l3outContract}`,
        matchT: 'AtleastOne',
        tnVzBrCPName: names.l3outContract,
      }),
    ),
  ];
}

export function tenantObjects(config: ControllerConfig): Mo[] {
  const d = dns(config);
  const names = provisionNames(config);
  const { aci } = config;
  const rel = endpointGroupRelations(config, names);
  const nodesEpg = d.epg(aci.nodesEndpointGroup);
  const physDn = physDomainDn(names);
  return [
    ...clusterContracts(d.clusterTenant, names),
    ...relations(d.epg(aci.defaultEndpointGroup), rel.pods),
    ...relations(d.epg(aci.systemEndpointGroup), rel.system),
    ...relations(nodesEpg, rel.nodes),
    mo('fvRsDomAtt', {
      dn: `${nodesEpg}/rsdomAtt-[${physDn}]`,
      tDn: physDn,
      encap: vlanText(config.network.kubeapiVlan),
    }),
    ...aci.customEndpointGroups.map((name) => customEndpointGroup(config, name, rel.pods)),
    mo('fvRsBDToOut', {
      dn: `${d.nodeBd}/rsBDToOut-${aci.l3out.name}`,
      tnL3extOutName: aci.l3out.name,
    }),
    ...l3outAllowAll(config, names),
  ];
}
