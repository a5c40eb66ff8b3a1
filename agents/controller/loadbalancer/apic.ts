/**
 * APIC objects of LoadBalancer Services (pure), as the original posts them:
 *  - shared by all services: the device cluster (vnsLDevVip) with one
 *    concrete device per node and its logical interface, and the abstract
 *    service graph template (consumer terminal → loadbalancer node in
 *    redirect mode → provider terminal);
 *  - per service: filter + contract with the graph attached, the redirect
 *    policy (one destination per chosen node: its service endpoint IP/MAC),
 *    the device selection context, and an external EPG under the L3Out
 *    holding the external IP that provides the contract, consumed by the
 *    configured external networks.
 */
import type { ControllerConfig } from '../../../lib/config/components.ts';
import { hostCidr } from '../../../lib/net/cidr.ts';
import { makeMo as mo, type Mo } from '../apic/mo.ts';
import { dns, healthGroupName, monitoringPolicyName, serviceObjectName } from '../apicnames.ts';

export interface GraphNode {
  name: string;
  ipv4?: string;
  ipv6?: string;
  mac: string;
}

export interface ServiceInput {
  namespace: string;
  name: string;
  externalIPs: string[];
  ports: { name?: string; protocol: string; port: number }[];
  nodes: GraphNode[];
}

const protocolName = (p: string) => ({ TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' })[p] ?? 'unspecified';

/** The device cluster and the graph template (one owner key for the cluster). */
export function sharedServiceObjects(config: ControllerConfig, nodes: readonly string[]): Mo[] {
  const d = dns(config);
  const cdev = (node: string) => `${d.device}/cDev-${node}`;
  const device = mo(
    'vnsLDevVip',
    {
      dn: d.device,
      name: config.aci.deviceCluster,
      devtype: 'VIRTUAL',
      svcType: 'OTHERS',
      managed: 'no',
      contextAware: 'single-Context',
      funcType: 'GoTo',
    },
    [
      mo('vnsRsALDevToPhysDomP', { rn: 'rsALDevToPhysDomP', tDn: d.physDomain }),
      mo(
        'vnsLIf',
        { rn: 'lIf-interface', name: 'interface', encap: `vlan-${config.network.serviceVlan}` },
        nodes.map((node) =>
          mo('vnsRsCIfAttN', {
            rn: `rscIfAttN-[${cdev(node)}/cIf-[interface]]`,
            tDn: `${cdev(node)}/cIf-[interface]`,
          }),
        ),
      ),
      ...nodes.map((node) =>
        mo('vnsCDev', { rn: `cDev-${node}`, name: node }, [
          mo('vnsCIf', { rn: 'cIf-[interface]', name: 'interface' }),
        ]),
      ),
    ],
  );
  const terminal = (
    cls: 'vnsAbsTermNodeCon' | 'vnsAbsTermNodeProv',
    name: string,
    rnPrefix: string,
  ) =>
    mo(cls, { rn: `${rnPrefix}-${name}`, name }, [
      mo('vnsAbsTermConn', { rn: 'AbsTConn', name: '1' }),
      mo('vnsInTerm', { rn: 'intmnl', name: '' }),
      mo('vnsOutTerm', { rn: 'outtmnl', name: '' }),
    ]);
  const node = `${d.graph}/AbsNode-loadbalancer`;
  const connection = (name: string, a: string, b: string) =>
    mo(
      'vnsAbsConnection',
      {
        rn: `AbsConnection-${name}`,
        name,
        connDir: 'provider',
        connType: 'external',
        adjType: 'L3',
        unicastRoute: 'yes',
      },
      [
        mo('vnsRsAbsConnectionConns', { rn: `rsabsConnectionConns-[${a}]`, tDn: a }),
        mo('vnsRsAbsConnectionConns', { rn: `rsabsConnectionConns-[${b}]`, tDn: b }),
      ],
    );
  const graph = mo('vnsAbsGraph', { dn: d.graph, name: config.aci.serviceGraphTemplate }, [
    terminal('vnsAbsTermNodeCon', 'T1', 'AbsTermNodeCon'),
    terminal('vnsAbsTermNodeProv', 'T2', 'AbsTermNodeProv'),
    mo(
      'vnsAbsNode',
      {
        rn: 'AbsNode-loadbalancer',
        name: 'loadbalancer',
        funcTemplateType: 'OTHER',
        funcType: 'GoTo',
        managed: 'no',
        routingMode: 'Redirect',
      },
      [
        mo('vnsAbsFuncConn', { rn: 'AbsFConn-consumer', name: 'consumer' }),
        mo('vnsAbsFuncConn', { rn: 'AbsFConn-provider', name: 'provider' }),
        mo('vnsRsNodeToLDev', { rn: 'rsNodeToLDev', tDn: d.device }),
      ],
    ),
    connection('C1', `${d.graph}/AbsTermNodeCon-T1/AbsTConn`, `${node}/AbsFConn-consumer`),
    connection('C2', `${node}/AbsFConn-provider`, `${d.graph}/AbsTermNodeProv-T2/AbsTConn`),
  ]);
  return [device, graph, ...serviceTracking(config, nodes)];
}

const tracking = (config: ControllerConfig) => config.aci.serviceMonitorInterval > 0;

/**
 * Service graph health, as the original: an IP SLA policy probing each
 * node's service endpoint every serviceMonitorInterval seconds, and one
 * redirect health group per node that its redirect destinations join, so
 * the fabric stops redirecting to a node that does not answer.
 */
function serviceTracking(config: ControllerConfig, nodes: readonly string[]): Mo[] {
  if (!tracking(config)) return [];
  const d = dns(config);
  return [
    mo('fvIPSLAMonitoringPol', {
      dn: d.monitoringPolicy,
      name: monitoringPolicyName(config),
      slaType: 'icmp',
      slaFrequency: String(config.aci.serviceMonitorInterval),
    }),
    ...nodes.map((node) =>
      mo('vnsRedirectHealthGroup', {
        dn: d.healthGroup(node),
        name: healthGroupName(config, node),
      }),
    ),
  ];
}

export function redirectPolicyDn(
  config: ControllerConfig,
  namespace: string,
  name: string,
): string {
  return `${dns(config).svcCont}/svcRedirectPol-${serviceObjectName(config, namespace, name)}`;
}

/** Objects of one LoadBalancer Service (one owner key per Service). */
export function serviceObjects(config: ControllerConfig, svc: ServiceInput): Mo[] {
  const d = dns(config);
  const name = serviceObjectName(config, svc.namespace, svc.name);
  const filter = mo(
    'vzFilter',
    { dn: `${d.vrfTenant}/flt-${name}`, name },
    svc.ports.map((p, i) =>
      mo('vzEntry', {
        rn: `e-${i}`,
        name: String(i),
        etherT: 'ip',
        prot: protocolName(p.protocol),
        dFromPort: String(p.port),
        dToPort: String(p.port),
      }),
    ),
  );
  const contract = mo('vzBrCP', { dn: `${d.vrfTenant}/brc-${name}`, name, scope: 'context' }, [
    mo(
      'vzSubj',
      { rn: 'subj-loadbalancedservice', name: 'loadbalancedservice', revFltPorts: 'yes' },
      [
        mo('vzRsSubjFiltAtt', { rn: `rssubjFiltAtt-${name}`, tnVzFilterName: name }),
        mo('vzRsSubjGraphAtt', {
          rn: 'rsSubjGraphAtt',
          tnVnsAbsGraphName: config.aci.serviceGraphTemplate,
        }),
      ],
    ),
  ]);
  const destinations = svc.nodes.flatMap((n) =>
    [n.ipv4, n.ipv6]
      .filter((ip): ip is string => !!ip)
      .map((ip) =>
        mo(
          'vnsRedirectDest',
          { rn: `RedirectDest_ip-[${ip}]`, ip, mac: n.mac.toUpperCase(), destName: n.name },
          tracking(config)
            ? [
                mo('vnsRsRedirectHealthGroup', {
                  rn: 'rsRedirectHealthGroup',
                  tDn: d.healthGroup(n.name),
                }),
              ]
            : [],
        ),
      ),
  );
  const redirect = mo(
    'vnsSvcRedirectPol',
    { dn: redirectPolicyDn(config, svc.namespace, svc.name), name },
    [
      ...destinations,
      ...(tracking(config)
        ? [mo('vnsRsIPSLAMonitoringPol', { rn: 'rsIPSLAMonitoringPol', tDn: d.monitoringPolicy })]
        : []),
    ],
  );
  const lifCtx = (conn: string) =>
    mo('vnsLIfCtx', { rn: `lIfCtx-c-${conn}`, connNameOrLbl: conn }, [
      mo('vnsRsLIfCtxToSvcRedirectPol', {
        rn: 'rsLIfCtxToSvcRedirectPol',
        tDn: redirectPolicyDn(config, svc.namespace, svc.name),
      }),
      mo('vnsRsLIfCtxToBD', { rn: 'rsLIfCtxToBD', tDn: d.serviceBd }),
      mo('vnsRsLIfCtxToLIf', { rn: 'rsLIfCtxToLIf', tDn: d.deviceInterface }),
    ]);
  const deviceContext = mo(
    'vnsLDevCtx',
    {
      dn: `${d.vrfTenant}/ldevCtx-c-${name}-g-${config.aci.serviceGraphTemplate}-n-loadbalancer`,
      ctrctNameOrLbl: name,
      graphNameOrLbl: config.aci.serviceGraphTemplate,
      nodeNameOrLbl: 'loadbalancer',
    },
    [
      mo('vnsRsLDevCtxToLDev', { rn: 'rsLDevCtxToLDev', tDn: d.device }),
      lifCtx('consumer'),
      lifCtx('provider'),
    ],
  );
  const externalEpg = mo('l3extInstP', { dn: `${d.l3out}/instP-${name}`, name }, [
    ...svc.externalIPs.map((ip) =>
      mo('l3extSubnet', {
        rn: `extsubnet-[${hostCidr(ip)}]`,
        ip: hostCidr(ip),
        scope: 'import-security',
      }),
    ),
    mo('fvRsProv', { rn: `rsprov-${name}`, tnVzBrCPName: name }),
  ]);
  const consumers = config.aci.l3out.externalNetworks.map((ext) =>
    mo('fvRsCons', { dn: `${d.l3out}/instP-${ext}/rscons-${name}`, tnVzBrCPName: name }),
  );
  return [filter, contract, redirect, deviceContext, externalEpg, ...consumers];
}
