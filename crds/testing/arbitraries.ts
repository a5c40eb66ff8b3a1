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
    method: fc.constantFrom('Password' as const, 'Certificate' as const),
    encap: fc.constantFrom('vxlan' as const, 'vlan' as const),
    hosts: fc.array(fc.ipV4(), { minLength: 1, maxLength: 3 }),
    mtu: fc.integer({ min: 1280, max: 9000 }),
  })
  .map(({ blocks, chunkLog2, podPrefix, vlans, method, encap, hosts, mtu }) => {
    const [node, pod, svc, dyn, stat] = blocks as [number, number, number, number, number, number];
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
        // IPv4 only: the data plane does not carry IPv6 yet, and the schema refuses it.
        podSubnets: [`${pod}.0.0.1/${podPrefix}`],
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
    name: 'multicast range start after end',
    stillValid: false,
    apply: (s) =>
      void (s.aci.vmmDomain.multicastRange = { start: '225.2.0.0', end: '225.1.255.255' }),
  },
  {
    name: 'multicast range of one address',
    stillValid: true,
    apply: (s) => void (s.aci.vmmDomain.multicastRange = { start: '239.9.9.9', end: '239.9.9.9' }),
  },
  {
    name: 'image tag with a space',
    stillValid: false,
    apply: (s) => void (s.images = { tag: 'bad tag' }),
  },
  {
    name: 'image tag starting with a dot',
    stillValid: false,
    apply: (s) => void (s.images = { tag: '.hidden' }),
  },
  {
    name: 'image registry with a port and path',
    stillValid: true,
    apply: (s) =>
      void (s.images = { registry: 'registry.example.com:5000/team', tag: 'v1.2_rc-3' }),
  },
  {
    name: 'image repository override with upper case',
    stillValid: false,
    apply: (s) => void (s.images = { controller: { repository: 'ghcr.io/Team/controller' } }),
  },
  {
    name: 'maxUnavailable zero',
    stillValid: false,
    apply: (s) => void (s.components = { maxUnavailable: 0 }),
  },
  {
    name: 'maxUnavailable a percentage',
    stillValid: true,
    apply: (s) => void (s.components = { maxUnavailable: '25%' }),
  },
  {
    name: 'maxUnavailable a word',
    stillValid: false,
    apply: (s) => void (s.components = { maxUnavailable: 'some' }),
  },
  {
    name: 'pod subnet without prefix',
    stillValid: false,
    apply: (s) => void (s.network.podSubnets = ['172.16.0.1']),
  },
  { name: 'MTU too small', stillValid: false, apply: (s) => void (s.network.mtu = 576) },
  {
    name: 'IPv6 pod subnet (the data plane does not carry IPv6)',
    stillValid: false,
    apply: (s) => void s.network.podSubnets.push('fd99::1/64'),
  },
  {
    name: 'IPv6 node service subnet',
    stillValid: false,
    apply: (s) => void (s.network.nodeServiceSubnet = 'fd98::1/120'),
  },
  {
    name: 'IPv6 extern dynamic pool',
    stillValid: false,
    apply: (s) => void (s.network.externDynamic = ['fd97::1/120']),
  },
  {
    name: 'IPv6 extern static pool',
    stillValid: false,
    apply: (s) => void (s.network.externStatic = ['fd96::1/120']),
  },
  {
    // Pod subnets use first octets 1..250 (blocks) and 10.x is the node's: 251/8 is free.
    name: 'extra disjoint pod subnet',
    stillValid: true,
    apply: (s) => void s.network.podSubnets.push('251.9.0.1/16'),
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
