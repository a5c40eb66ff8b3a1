/**
 * fast-check generators of AciFabric specs: `validSpec` builds address plans
 * that satisfy every rule by construction (distinct /16 blocks, chunk sizes
 * that fit, distinct VLANs); `mutation` breaks exactly one rule or, for the
 * "neutral" ones, none, so tests compare verdicts rather than assume them.
 */
import fc from 'fast-check';
import type { AciFabricSpecInput } from '../schemas/acifabric.ts';

export const validSpec: fc.Arbitrary<AciFabricSpecInput> = fc
  .record({
    blocks: fc.uniqueArray(fc.integer({ min: 1, max: 250 }), { minLength: 6, maxLength: 6 }),
    chunkLog2: fc.integer({ min: 1, max: 12 }),
    podPrefix: fc.integer({ min: 12, max: 20 }),
    vlans: fc.uniqueArray(fc.integer({ min: 1, max: 4094 }), { minLength: 3, maxLength: 3 }),
    withIpv6: fc.boolean(),
    method: fc.constantFrom('Password' as const, 'Certificate' as const),
    encap: fc.constantFrom('vxlan' as const, 'vlan' as const),
    hosts: fc.array(fc.ipV4(), { minLength: 1, maxLength: 3 }),
    mtu: fc.integer({ min: 1280, max: 9000 }),
  })
  .map(({ blocks, chunkLog2, podPrefix, vlans, withIpv6, method, encap, hosts, mtu }) => {
    const [node, pod, svc, dyn, stat, pod2] = blocks as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const spec: AciFabricSpecInput = {
      systemId: `kube${node}`,
      apic: {
        hosts,
        credentials: {
          method,
          secretRef: { name: 'apic-credentials' },
          ...(method === 'Certificate' ? { certificateName: 'kube-cert' } : {}),
        },
      },
      aci: {
        vrf: { name: 'vrf', tenant: 'common' },
        l3out: { name: 'l3out', externalNetworks: ['ext'] },
        aep: 'aep',
        vmmDomain: {
          encapType: encap,
          multicastRange: { start: '225.1.1.1', end: '225.1.255.255' },
          ...(encap === 'vlan' ? { vlanPool: { start: 100, end: 200 } } : {}),
        },
      },
      network: {
        // Pod subnets get a /podPrefix inside their own /8-sized room so prefixes never collide.
        nodeSubnet: `10.${node}.0.1/16`,
        podSubnets: [
          `${pod}.0.0.1/${podPrefix}`,
          ...(withIpv6 ? [`fd00:${pod2.toString(16)}::1/64`] : []),
        ],
        podSubnetChunkSize: 2 ** chunkLog2,
        nodeServiceSubnet: `10.${svc}.0.1/24`,
        externDynamic: [`10.${dyn}.0.1/24`],
        externStatic: [`10.${stat}.0.1/24`],
        kubeapiVlan: vlans[0] as number,
        serviceVlan: vlans[1] as number,
        infraVlan: vlans[2] as number,
        mtu,
      },
    };
    return spec;
  })
  // The pod /8 room must not contain the 10.x subnets.
  .filter((spec) => !spec.network.podSubnets[0]?.startsWith('10.'));

export interface Mutation {
  name: string;
  /** Whether the mutated spec must still be accepted. */
  stillValid: boolean;
  apply: (spec: AciFabricSpecInput) => void;
}

export const mutations: Mutation[] = [
  {
    name: 'pod subnet overlapping the node subnet',
    stillValid: false,
    apply: (s) =>
      void (s.network.podSubnets = [s.network.nodeSubnet.replace('.0.1/16', '.128.1/17')]),
  },
  {
    name: 'two overlapping pod subnets',
    stillValid: false,
    apply: (s) => void s.network.podSubnets.push(s.network.podSubnets[0] ?? ''),
  },
  {
    name: 'node service subnet inside a pod subnet',
    stillValid: false,
    apply: (s) =>
      void (s.network.nodeServiceSubnet = (s.network.podSubnets[0] ?? '').replace(/\/\d+$/, '/28')),
  },
  {
    name: 'extern dynamic equal to extern static',
    stillValid: false,
    apply: (s) => void (s.network.externDynamic = [...(s.network.externStatic ?? [])]),
  },
  {
    name: 'chunk size not a power of two',
    stillValid: false,
    apply: (s) => void (s.network.podSubnetChunkSize = 3 * 2 ** 4),
  },
  {
    name: 'chunk size larger than the pod subnet',
    stillValid: false,
    apply: (s) =>
      void (
        (s.network.podSubnetChunkSize = 65536),
        (s.network.podSubnets = [(s.network.podSubnets[0] ?? '').replace(/\/\d+$/, '/24')])
      ),
  },
  {
    name: 'duplicate VLANs',
    stillValid: false,
    apply: (s) => void (s.network.infraVlan = s.network.kubeapiVlan),
  },
  { name: 'VLAN 0', stillValid: false, apply: (s) => void (s.network.serviceVlan = 0) },
  { name: 'no APIC hosts', stillValid: false, apply: (s) => void (s.apic.hosts = []) },
  {
    name: 'certificate without name',
    stillValid: false,
    apply: (s) =>
      void ((s.apic.credentials.method = 'Certificate'), delete s.apic.credentials.certificateName),
  },
  {
    name: 'vlan encap without pool',
    stillValid: false,
    apply: (s) => void ((s.aci.vmmDomain.encapType = 'vlan'), delete s.aci.vmmDomain.vlanPool),
  },
  {
    name: 'unicast multicast range',
    stillValid: false,
    apply: (s) => void (s.aci.vmmDomain.multicastRange.end = '192.168.1.1'),
  },
  {
    name: 'pod subnet without prefix',
    stillValid: false,
    apply: (s) => void (s.network.podSubnets = ['172.16.0.1']),
  },
  { name: 'MTU too small', stillValid: false, apply: (s) => void (s.network.mtu = 576) },
  {
    name: 'extra disjoint pod subnet',
    stillValid: true,
    apply: (s) => void s.network.podSubnets.push('fd99::1/64'),
  },
  {
    name: 'password method without certificate',
    stillValid: true,
    apply: (s) =>
      void ((s.apic.credentials.method = 'Password'), delete s.apic.credentials.certificateName),
  },
  {
    name: 'no extern pools',
    stillValid: true,
    apply: (s) => void (delete s.network.externDynamic, delete s.network.externStatic),
  },
];

export const mutationArbitrary = fc.constantFrom(...mutations);
