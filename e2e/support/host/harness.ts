/**
 * Test helper: a CNI server as the host agent would run it (real IPAM store,
 * endpoint files, Linux data plane on a private OVS) plus a way to call the
 * plugin executable exactly as a container runtime does.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { CniServer } from '../../../agents/host/cniserver/index.ts';
import type { CniServerOptions } from '../../../agents/host/cniserver/index.ts';
import { EndpointFileStore } from '../../../agents/host/endpoints/index.ts';
import { IpamStore, reservedAddresses, subnetFamilies } from '../../../agents/host/ipam/index.ts';
import type { PodSubnet } from '../../../agents/host/ipam/index.ts';
import { LinuxDataplane } from '../../../agents/host/netconf/index.ts';
import { NetnsSet } from './netns.ts';
import { startTestOvs } from './ovs.ts';
import type { TestOvs } from './ovs.ts';

export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const pluginMain = join(repoRoot, 'agents/cni/main.ts');
export const pluginWrapper = join(repoRoot, 'agents/cni/aci-containers-cni');

export const testSubnets: readonly PodSubnet[] = [
  { cidr: '10.123.0.0/16', gateway: '10.123.0.1' },
  { cidr: 'fd00:123::/64', gateway: 'fd00:123::1' },
];
export const testChunks = ['10.123.0.0/26', 'fd00:123::/122'];

export interface PluginRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON, or undefined if empty / not JSON. */
  readonly json: unknown;
}

export interface PluginCall {
  readonly command: string;
  readonly containerId?: string;
  readonly netns?: string;
  readonly ifName?: string;
  readonly args?: string;
  readonly config: unknown;
  /** Run through the shell wrapper in a CNI_PATH folder instead of `node --import tsx main.ts`. */
  readonly viaWrapper?: boolean;
  /** Run this file with node instead: the esbuild bundle the image ships (scripts/bundle.ts). */
  readonly bundle?: string;
}

/** Runs the CNI plugin executable with the CNI environment and the config on stdin. */
export function invokePlugin(call: PluginCall): Promise<PluginRun> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    CNI_COMMAND: call.command,
    CNI_PATH: join(repoRoot, 'agents/cni'),
    ...(call.containerId !== undefined ? { CNI_CONTAINERID: call.containerId } : {}),
    ...(call.netns !== undefined ? { CNI_NETNS: call.netns } : {}),
    ...(call.ifName !== undefined ? { CNI_IFNAME: call.ifName } : {}),
    ...(call.args !== undefined ? { CNI_ARGS: call.args } : {}),
  };
  const [cmd, argv] = call.bundle
    ? [process.execPath, [call.bundle]]
    : call.viaWrapper
      ? [pluginWrapper, []]
      : [process.execPath, ['--import', 'tsx', pluginMain]];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, argv, { cwd: repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = stdout.trim() === '' ? undefined : JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolvePromise({ code, stdout, stderr, json });
    });
    child.stdin.end(typeof call.config === 'string' ? call.config : JSON.stringify(call.config));
  });
}

export interface CniTestBed {
  readonly ovs: TestOvs;
  /** The simulated node's host namespace: bridge and host veth ends live here. */
  readonly node: { readonly name: string; readonly path: string };
  readonly netns: NetnsSet;
  readonly stateDir: string;
  readonly socketPath: string;
  readonly gatewayNetns: string;
  server: CniServer;
  ipam: IpamStore;
  readonly endpoints: EndpointFileStore;
  /** The network config a runtime would pass (cniVersion 1.0.0 unless overridden). */
  config(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** Stops the server and opens store + server again from disk, as a host agent restart. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startCniTestBed(
  opts: {
    chunks?: readonly string[];
    subnets?: readonly PodSubnet[];
    server?: Partial<CniServerOptions>;
  } = {},
): Promise<CniTestBed> {
  const netns = new NetnsSet();
  const subnets = opts.subnets ?? testSubnets;
  const stateDir = await mkdtemp(join(tmpdir(), 'cni-state-'));
  const socketPath = join(stateDir, 'cni.sock');
  let node: { name: string; path: string };
  let ovs: TestOvs;
  try {
    node = await netns.createNode();
    ovs = await startTestOvs(`brc${netns.tag}`, node.path);
  } catch (err) {
    await netns.cleanup();
    await rm(stateDir, { recursive: true, force: true });
    throw err;
  }
  const endpoints = new EndpointFileStore(join(stateDir, 'endpoints'));
  const ipamPath = join(stateDir, 'ipam.json');
  const openIpam = (): Promise<IpamStore> =>
    IpamStore.open({
      path: ipamPath,
      reserved: reservedAddresses(subnets),
      families: subnetFamilies(subnets),
    });
  const makeServer = (ipam: IpamStore): CniServer =>
    new CniServer({
      socketPath,
      ipam,
      endpoints,
      dataplane: new LinuxDataplane({ bridge: ovs.bridge, ovsdb: ovs.db, hostNetns: node.path }),
      subnets,
      mtu: 1450,
      logger: pino({ level: process.env.CNI_TEST_LOG ?? 'silent' }),
      ...opts.server,
    });
  let gatewayNetns: string;
  let ipam: IpamStore;
  let server: CniServer;
  try {
    gatewayNetns = await netns.createGateway(
      ovs,
      node.name,
      subnets.map((s) => `${s.gateway}/${s.cidr.split('/')[1]}`),
    );
    ipam = await openIpam();
    await ipam.setChunks(opts.chunks ?? testChunks);
    server = makeServer(ipam);
    await server.reconcile();
    await server.listen();
  } catch (err) {
    await ovs.stop();
    await netns.cleanup();
    await rm(stateDir, { recursive: true, force: true });
    throw err;
  }
  const bed: CniTestBed = {
    ovs,
    node,
    netns,
    stateDir,
    socketPath,
    gatewayNetns,
    server,
    ipam,
    endpoints,
    config: (overrides = {}) => ({
      cniVersion: '1.0.0',
      name: 'aci-containers',
      type: 'aci-containers-cni',
      serverSocket: socketPath,
      ...overrides,
    }),
    async restart() {
      await bed.server.close();
      bed.ipam = await openIpam();
      bed.server = makeServer(bed.ipam);
      await bed.server.reconcile();
      await bed.server.listen();
    },
    async close() {
      await bed.server.close().catch(() => undefined);
      await ovs.stop();
      await netns.cleanup();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
  return bed;
}

/** CNI_ARGS as kubelet passes them. */
export function k8sArgs(namespace: string, name: string, uid: string): string {
  return `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=${uid}`;
}
