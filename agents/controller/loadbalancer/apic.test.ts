/**
 * Service graph health: with serviceMonitorInterval the shared objects hold
 * the IP SLA policy (probe interval = the AciFabric's) and one redirect
 * health group per node, each service's redirect policy tracks with that
 * policy and each destination joins its node's group; 0 turns it all off.
 */
import test from 'ava';
import { AciFabricSpec } from '../../../crds/index.ts';
import { controllerConfig } from '../../../operator/render/config.ts';
import { moAttrs, moChildren, moClass, moDn, type Mo } from '../apic/mo.ts';
import { serviceObjects, sharedServiceObjects } from './apic.ts';

function config(serviceMonitorInterval: number) {
  const spec = AciFabricSpec.parse({
    systemId: 'kube',
    apic: { hosts: ['apic'], credentials: { method: 'Password', secretRef: { name: 'apic' } } },
    aci: {
      vrf: { name: 'vrf', tenant: 'common' },
      l3out: { name: 'l3out', externalNetworks: ['ext'] },
      aep: 'aep',
      vmmDomain: { multicastRange: { start: '225.2.1.1', end: '225.2.255.255' } },
      serviceMonitorInterval,
    },
    network: {
      nodeSubnet: '10.1.0.1/16',
      podSubnets: ['10.2.0.1/16'],
      nodeServiceSubnet: '10.5.0.1/24',
      kubeapiVlan: 4001,
      serviceVlan: 4003,
      infraVlan: 4093,
    },
  });
  return controllerConfig({ fabric: { name: 'kube', uid: '' }, spec });
}

function flat(mos: readonly Mo[], parent = ''): Array<[string, string, Record<string, string>]> {
  return mos.flatMap((m) => {
    const dn = moDn(m, parent);
    return [
      [dn, moClass(m), moAttrs(m)] as [string, string, Record<string, string>],
      ...flat(moChildren(m), dn),
    ];
  });
}

const nodes = [
  { name: 'node-a', ipv4: '10.5.0.2', mac: '02:00:00:00:00:0a' },
  { name: 'node-b', ipv4: '10.5.0.3', mac: '02:00:00:00:00:0b' },
];
const service = (interval: number) =>
  flat(
    serviceObjects(config(interval), {
      namespace: 'web',
      name: 'front',
      externalIPs: ['10.3.0.5'],
      ports: [{ protocol: 'TCP', port: 80 }],
      nodes,
    }),
  );

const policy = 'uni/tn-common/ipslaMonitoringPol-aci-containers-kube_monPol_kubernetes-service';
const group = (node: string) =>
  `uni/tn-common/svcCont/redirectHealthGroup-aci-containers-kube_svc_${node}`;

test('the IP SLA policy probes at the AciFabric interval, one health group per node', (t) => {
  const shared = flat(sharedServiceObjects(config(7), ['node-a', 'node-b']));
  const find = (dn: string) => shared.find(([d]) => d === dn);
  t.deepEqual(find(policy)?.[2], {
    dn: policy,
    name: 'aci-containers-kube_monPol_kubernetes-service',
    slaType: 'icmp',
    slaFrequency: '7',
  });
  t.is(find(group('node-a'))?.[1], 'vnsRedirectHealthGroup');
  t.is(find(group('node-b'))?.[1], 'vnsRedirectHealthGroup');
});

test('each redirect destination joins its node health group; the policy is tracked', (t) => {
  const objects = service(5);
  const redirect = 'uni/tn-common/svcCont/svcRedirectPol-aci-containers-kube_svc_web_front';
  const tDn = (dn: string) => objects.find(([d]) => d === dn)?.[2].tDn;
  t.is(tDn(`${redirect}/rsIPSLAMonitoringPol`), policy);
  t.is(tDn(`${redirect}/RedirectDest_ip-[10.5.0.2]/rsRedirectHealthGroup`), group('node-a'));
  t.is(tDn(`${redirect}/RedirectDest_ip-[10.5.0.3]/rsRedirectHealthGroup`), group('node-b'));
});

test('serviceMonitorInterval 0 renders no tracking at all', (t) => {
  const classes = new Set([
    ...flat(sharedServiceObjects(config(0), ['node-a'])).map(([, c]) => c),
    ...service(0).map(([, c]) => c),
  ]);
  for (const cls of [
    'fvIPSLAMonitoringPol',
    'vnsRedirectHealthGroup',
    'vnsRsIPSLAMonitoringPol',
    'vnsRsRedirectHealthGroup',
  ])
    t.false(classes.has(cls), cls);
});
