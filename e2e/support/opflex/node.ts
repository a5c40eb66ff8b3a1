/**
 * A test node: its own ovsdb-server/ovs-vswitchd (via the supervisor) in a
 * private run dir, an opflex agent, and helpers to add pods and write the
 * contract files the host agent would write.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { OvsdbClient } from '../../../agents/openvswitch/ovsdb.ts';
import {
  OvsSupervisor,
  vswitchdCtlPath,
  waitForOfport,
} from '../../../agents/openvswitch/supervisor.ts';
import { addPort } from '../../../agents/openvswitch/vswitch.ts';
import { OpflexAgent, folders } from '../../../agents/opflex/agent.ts';
import { type AgentFromFile, startAgentFromFile } from '../../../agents/opflex/run.ts';
import {
  type EndpointFile,
  EndpointFileSuffix,
  type SecurityGroupFile,
  SecurityGroupFileSuffix,
  type ServiceFile,
  ServiceFileSuffix,
} from '../../../agents/opflex/files.ts';
import { DataplaneConfig, type PodSubnet } from '../../../agents/opflex/model.ts';
import type { PolicySource } from '../../../agents/opflex/policy/source.ts';
import { type PodNet, addPodIPv6, createPodNetns, deleteNetns, run } from './netns.ts';

export interface TestNodeOptions {
  name: string;
  /** The node's network namespace (created here): ovs-vswitchd and the host ends of veths live in it. */
  netns: string;
  dir: string;
  bridge: string;
  gatewayIp: string;
  gatewayMac: string;
  nodeIPs?: string[];
  /** Pod subnets of the cluster (the gateway above answers ARP without one; an IPv6 gateway needs its subnet). */
  podSubnets?: PodSubnet[];
  /**
   * Run the agent as its entry point does, from this agent.json (written by
   * the host agent's code); the gateway fields above are then unused.
   */
  agentConfigFile?: string;
  /** The resolved OpFlex policy the agent renders contracts from (a direct agent only). */
  policy?: PolicySource;
  log: Logger;
}

export interface TestPod extends PodNet {
  uuid: string;
  namespace: string;
  name: string;
  bridgeDomain: string;
  securityGroups: string[];
  /** Default: the original's default EPG, kube / kubernetes / kube-default. */
  endpointGroup?: EndpointFile['endpointGroup'];
  /** A second, IPv6 address with its gateway (dual stack), as the CNI server configures it. */
  ipv6?: { ip: string; prefixLen: number; gateway: string };
}

export class TestNode {
  readonly stateDir: string;
  readonly ovsDir: string;
  readonly pods: TestPod[] = [];
  sup!: OvsSupervisor;
  db!: OvsdbClient;
  private direct?: OpflexAgent;
  private fromFile?: AgentFromFile;

  constructor(readonly opts: TestNodeOptions) {
    this.stateDir = path.join(opts.dir, 'state');
    this.ovsDir = path.join(opts.dir, 'ovs');
  }

  config(): DataplaneConfig {
    return DataplaneConfig.parse({
      nodeName: this.opts.name,
      gateway: { ip: this.opts.gatewayIp, mac: this.opts.gatewayMac },
      nodeIPs: this.opts.nodeIPs ?? [],
      podSubnets: this.opts.podSubnets ?? [],
    });
  }

  /** The running agent (with a config file: the one started from its current content). */
  get agent(): OpflexAgent {
    const agent = this.fromFile ? this.fromFile.agent : this.direct;
    if (!agent)
      throw new Error(`node ${this.opts.name}: no agent running (config file not read yet?)`);
    return agent;
  }

  /** With a config file: resolves once the agent runs with its first valid content. */
  async agentConfigured(): Promise<void> {
    await this.fromFile?.watcher.firstApplied;
  }

  async start(): Promise<void> {
    await run('ip', ['netns', 'add', this.opts.netns]);
    await run('ip', ['-n', this.opts.netns, 'link', 'set', 'lo', 'up']);
    this.sup = new OvsSupervisor({
      dir: this.ovsDir,
      bridges: [this.opts.bridge],
      log: this.opts.log.child({ node: this.opts.name }),
      netns: this.opts.netns,
    });
    await this.sup.start();
    this.db = await OvsdbClient.connect(this.sup.dbSocket);
    await this.startAgent();
  }

  async startAgent(): Promise<void> {
    const tuning = { probeIntervalMs: 300, rescanIntervalMs: 1000 };
    if (this.opts.agentConfigFile) {
      this.fromFile = await startAgentFromFile({
        file: this.opts.agentConfigFile,
        log: this.opts.log.child({ node: this.opts.name }),
        tuning,
        pollIntervalMs: 300,
      });
      return;
    }
    this.direct = new OpflexAgent({
      config: this.config(),
      stateDir: this.stateDir,
      ovsRundir: this.ovsDir,
      bridge: this.opts.bridge,
      log: this.opts.log.child({ node: this.opts.name }),
      ...(this.opts.policy ? { policy: this.opts.policy } : {}),
      ...tuning,
    });
    await this.direct.start();
  }

  /** Stops the agent (either kind); startAgent() starts it again. */
  async stopAgent(): Promise<void> {
    await this.fromFile?.stop();
    await this.direct?.stop();
    this.fromFile = undefined;
    this.direct = undefined;
  }

  /** Creates the netns + veth, attaches it to OVS, writes the endpoint file. */
  async addPod(
    p: Omit<TestPod, 'bridgeDomain' | 'securityGroups'> & {
      bridgeDomain?: string;
      securityGroups?: string[];
    },
  ): Promise<TestPod> {
    const pod: TestPod = { bridgeDomain: 'bd-pods', securityGroups: [], ...p };
    await createPodNetns(pod, this.opts.netns);
    if (pod.ipv6) await addPodIPv6(pod.netns, pod.ipv6);
    await addPort(this.db, this.opts.bridge, {
      name: pod.hostIf,
      externalIds: { 'pod-uuid': pod.uuid },
    });
    await waitForOfport(this.db, pod.hostIf);
    await this.writeEndpoint(pod);
    this.pods.push(pod);
    return pod;
  }

  endpointFile(pod: TestPod): EndpointFile {
    return {
      uuid: pod.uuid,
      namespace: pod.namespace,
      podName: pod.name,
      interfaceName: pod.hostIf,
      mac: pod.mac,
      ips: [pod.ip, ...(pod.ipv6 ? [pod.ipv6.ip] : [])],
      gateways: [pod.gateway, ...(pod.ipv6 ? [pod.ipv6.gateway] : [])],
      endpointGroup: pod.endpointGroup ?? {
        tenant: 'kube',
        appProfile: 'kubernetes',
        name: 'kube-default',
      },
      securityGroups: pod.securityGroups,
      bridgeDomain: pod.bridgeDomain,
      attributes: {},
    };
  }

  async writeEndpoint(pod: TestPod): Promise<void> {
    await this.writeJson(
      folders(this.stateDir).endpoints,
      `${pod.uuid}${EndpointFileSuffix}`,
      this.endpointFile(pod),
    );
  }

  async writeSecurityGroup(g: SecurityGroupFile): Promise<void> {
    await this.writeJson(
      folders(this.stateDir).securityGroups,
      `${g.name}${SecurityGroupFileSuffix}`,
      g,
    );
  }

  async removeSecurityGroup(name: string): Promise<void> {
    await rm(
      path.join(folders(this.stateDir).securityGroups, `${name}${SecurityGroupFileSuffix}`),
      { force: true },
    );
  }

  async writeService(s: ServiceFile): Promise<void> {
    await this.writeJson(folders(this.stateDir).services, `${s.uuid}${ServiceFileSuffix}`, s);
  }

  async writeRaw(
    kind: 'endpoints' | 'services' | 'securityGroups',
    file: string,
    text: string,
  ): Promise<void> {
    const dir = folders(this.stateDir)[kind];
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, file), text);
  }

  /** Atomic replace, as the host agent does: readers never see half a file. */
  private async writeJson(dir: string, file: string, value: unknown): Promise<void> {
    await mkdir(dir, { recursive: true });
    const tmp = path.join(dir, `${file}.tmp`);
    await writeFile(tmp, JSON.stringify(value, null, 1));
    await rename(tmp, path.join(dir, file));
  }

  /**
   * Forgets every connection. Between test cases: a UDP probe that happens
   * to reuse a source port of an earlier, allowed probe would otherwise
   * match that still-established entry.
   */
  async flushConntrack(): Promise<void> {
    await run('ovs-appctl', ['-t', vswitchdCtlPath(this.ovsDir), 'dpctl/flush-conntrack']);
  }

  async stop(): Promise<void> {
    await this.stopAgent().catch(() => undefined);
    this.db?.close();
    for (const pod of this.pods) await deleteNetns(pod.netns);
    await this.sup?.stop().catch(() => undefined);
    // Deleting the node namespace removes the host ends of all its veths.
    await deleteNetns(this.opts.netns);
  }
}
