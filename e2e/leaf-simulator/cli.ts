// Runs the simulated ACI leaf standalone (root):
//   npx tsx e2e/leaf-simulator/cli.ts --bd bd-pods:3021:10.2.0.1/16[,10.3.0.1/16][:vni:group] [--bd ...]
//        [--vxlan 10.0.0.32/16:4093[:8472]]
//        [--node n1=/run/netns/n1[:eth1[:vtep]]] [--name aci-leaf]
//        [--l3out acibr-1:acil3-1:10.100.34.254/24:10.100.34.1]
// Each --bd is name:encap VLAN:gateway/prefix list (what the APIC says about
// the bridge domain; with --vxlan, the anycast VTEP on the infra VLAN, also
// its VNI and multicast group); each --node cables a node's network namespace (a name
// under /run/netns, a path, or a pid) by a new uplink interface (default
// eth1; with --vxlan also the node's VTEP address, which ACI's leaf knows from
// the infra DHCP lease). While it runs, stdin takes `attach <node> <netns> [uplink] [vtep]` and
// `detach <node>` lines. SIGINT/SIGTERM remove everything.
// --opflex <file> also runs the leaf's OpFlex server (opflex/config.ts) and
// enforces contracts between the endpoints it learns (opflex/policer.ts).
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import {
  LeafBridge,
  LeafSimulator,
  type NodeNetns,
  parseBridgeDomain,
  parseVxlan,
} from './leaf.ts';
import { startOpflexLeafFromFile } from './opflex/config.ts';

const { values } = parseArgs({
  options: {
    bd: { type: 'string', multiple: true, default: [] },
    node: { type: 'string', multiple: true, default: [] },
    name: { type: 'string' },
    vxlan: { type: 'string' },
    // bridge:hostInterface:address/prefix:router — an L3Out on a bridge of this machine's namespace.
    l3out: { type: 'string' },
    opflex: { type: 'string' },
  },
});

const netnsArg = (text: string): NodeNetns => (/^\d+$/.test(text) ? Number(text) : text);

const leaf = await LeafSimulator.start({
  bridgeDomains: values.bd.map(parseBridgeDomain),
  ...(values.vxlan ? { vxlan: parseVxlan(values.vxlan) } : {}),
  ...(values.name ? { name: values.name } : {}),
});
const say = (line: string): void => void process.stdout.write(`${line}\n`);
say(`leaf namespace ${leaf.netns}, switch run dir ${leaf.ovsDir}`);
for (const bd of leaf.domains)
  say(`bridge domain ${bd.name}: VLAN ${bd.vlan}, SVI ${bd.subnets.join(' ')}`);
const attach = async (
  node: string,
  netns: string,
  uplink = 'eth1',
  vtep?: string,
): Promise<void> => {
  const p = await leaf.attachNode(node, netnsArg(netns), uplink, vtep);
  say(`attached ${node}: leaf port ${p.port} <-> ${p.uplink} in ${p.netnsPath}`);
};
for (const spec of values.node) {
  const [node = '', rest = ''] = spec.split('=');
  const [netns = '', uplink, vtep] = rest.split(':');
  await attach(node, netns, uplink, vtep);
}
if (values.l3out) {
  const [bridge = '', hostInterface = '', address = '', router = ''] = values.l3out.split(':');
  await leaf.attachExternal({ bridge, hostInterface, address, router });
  say(`L3Out ${address} on ${bridge} (${hostInterface}), default via ${router}`);
}
const opflex = values.opflex
  ? await startOpflexLeafFromFile(
      values.opflex,
      pino({ level: process.env.LOG_LEVEL ?? 'info' }),
      // As a real leaf, it enforces the contracts between the endpoints the nodes declare.
      { rundir: leaf.ovsDir, bridge: LeafBridge },
    )
  : undefined;
if (opflex) say(`OpFlex server on ${opflex.server.address}`);
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [cmd, node = '', netns = '', uplink, vtep] = line.trim().split(/\s+/);
  const done =
    cmd === 'attach'
      ? attach(node, netns, uplink, vtep)
      : cmd === 'detach'
        ? leaf.detachNode(node).then(() => say(`detached ${node}`))
        : Promise.reject(new Error(`unknown command: ${line}`));
  done.catch((err: unknown) => say(`error: ${String(err)}`));
});
const shutdown = (): void => {
  lines.close();
  void Promise.all([leaf.stop(), opflex?.stop()]).then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
