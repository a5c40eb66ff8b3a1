/**
 * A real local control plane: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and kwok (simulated nodes), all with TLS and RBAC, on free
 * ports of 127.0.0.1. Components run as detached processes whose command
 * lines and pids are kept in <dir>/state.json, so any process (the test
 * runner, a test, `npm run cluster:down`) can attach to the cluster, restart
 * one component or stop it all.
 */
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import {
  nodeIdentity,
  nodeNetwork,
  referenceCniConfig,
  referencePlugins,
  referenceRoutes,
  restartAlways,
  type NodeIdentity,
  type NodeNetwork,
} from './node-config.ts';

import {
  bootNode,
  destroyNode,
  ensureNodeNetwork,
  hostContainerdSocket,
  importImages,
  inNode,
  isAlive,
  powerOffNode,
  prepareNode,
  removeNodeNetwork,
  sh,
  waitForFile,
} from './nodes.ts';
import { createPki, issueCertificate, type Pki } from './pki.ts';
import { ensureBinaries, kwokStages, type BinaryName, type Binaries } from './tools.ts';

const exec = promisify(execFile);

/** Sorted before the project's own conflist name, so removing it is what lets the other take over. */
const referenceCniFile = '05-reference.conflist';

export type ComponentName =
  'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok' | string;

export interface ComponentState {
  binary: string;
  args: string[];
  pid: number;
  logFile: string;
}

export interface ClusterState {
  dir: string;
  kubeconfig: string;
  serverUrl: string;
  etcdUrl: string;
  binaries: Binaries;
  components: Record<ComponentName, ComponentState>;
  nodes: string[];
  /** The host bridge of the real nodes; absent when the cluster has only kwok nodes. */
  network?: NodeNetwork;
  realNodes: RealNodeState[];
}

export interface RealNodeState extends NodeIdentity {
  /** The process holding the node's mount namespace; every node component is started inside it. */
  initPid: number;
  /** Image archives imported into the node's containerd at its first boot. */
  images: string[];
}

/** What a real node runs, in start order. */
export const nodeComponents = ['containerd', 'kubelet', 'kube-proxy'] as const;
export type NodeComponent = (typeof nodeComponents)[number];

export interface StartOptions {
  dir: string;
  nodes?: number;
  /**
   * Real kubelet + containerd nodes (needs root). The API server then listens
   * on the nodes' bridge instead of loopback, so the nodes can reach it.
   */
  realNodes?: number;
  /** Image archives every real node's containerd imports (no registry is reachable). */
  nodeImages?: string[];
  log?: (line: string) => void;
}

export const kwokNodeAnnotation = 'kwok.x-k8s.io/node';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

function kubeconfigYaml(
  server: string,
  caCert: string,
  cert: string,
  key: string,
  user: string,
): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: aci-e2e',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caCert}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate: ${cert}`,
    `    client-key: ${key}`,
    'contexts:',
    `- name: ${user}@aci-e2e`,
    '  context:',
    '    cluster: aci-e2e',
    `    user: ${user}`,
    `current-context: ${user}@aci-e2e`,
    '',
  ].join('\n');
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * kube-apiserver (to 1.36 at least, kubernetes/kubernetes#130887) stops the
 * informer of a built-in paramKind for good once no admission policy binding
 * uses that kind for one refresh, and later policies of the kind then read
 * its frozen cache: a Lease created afterwards is "not found". The leader
 * fence (operator/render/policy.ts) takes the controller's Lease as its
 * parameter, and the tests create and delete fabrics, and so fence bindings,
 * all the time; in a cluster the fabric's binding stays. This binding, which
 * matches no request, keeps the Lease informer of the test cluster alive as a
 * fabric's binding keeps it in production.
 */
const leaseParamInformerAnchor = JSON.stringify({
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'e2e-lease-param-informer' },
      spec: {
        failurePolicy: 'Ignore',
        paramKind: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' },
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: ['e2e.invalid'],
              apiVersions: ['*'],
              operations: ['CREATE'],
              resources: ['nothing'],
            },
          ],
        },
        validations: [{ expression: 'true' }],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: 'e2e-lease-param-informer' },
      spec: {
        policyName: 'e2e-lease-param-informer',
        validationActions: ['Deny'],
        paramRef: {
          name: 'e2e-lease-param-informer',
          namespace: 'default',
          parameterNotFoundAction: 'Allow',
        },
      },
    },
  ],
});

export class Cluster {
  private constructor(private state: ClusterState) {}

  get dir(): string {
    return this.state.dir;
  }
  get kubeconfig(): string {
    return this.state.kubeconfig;
  }
  get serverUrl(): string {
    return this.state.serverUrl;
  }
  get nodes(): readonly string[] {
    return this.state.nodes;
  }
  get binaries(): Binaries {
    return this.state.binaries;
  }
  get logDir(): string {
    return path.join(this.state.dir, 'logs');
  }
  binary(name: BinaryName): string {
    return this.state.binaries[name];
  }

  /** Attaches to a cluster started by another process. */
  static async attach(dir: string): Promise<Cluster> {
    const state = JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as ClusterState;
    return new Cluster(state);
  }

  static async start(options: StartOptions): Promise<Cluster> {
    const log = options.log ?? (() => {});
    const dir = path.resolve(options.dir);
    const binaries = await ensureBinaries(log);
    await stopByState(dir);
    await rm(dir, { recursive: true, force: true });
    await mkdir(path.join(dir, 'logs'), { recursive: true });
    const started = Date.now();
    const network = (options.realNodes ?? 0) > 0 ? nodeNetwork(dir) : undefined;
    if (network) await ensureNodeNetwork(network);
    const apiAddress = network?.gateway ?? '127.0.0.1';
    const pki = await createPki(path.join(dir, 'pki'), network ? [network.gateway] : []);
    const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort, kwokPort] = (await Promise.all(
      Array.from({ length: 6 }, () => freePort()),
    )) as [number, number, number, number, number, number];
    const serverUrl = `https://${apiAddress}:${apiPort}`;
    const etcdUrl = `https://127.0.0.1:${etcdPort}`;
    const kubeconfigs: Record<string, string> = {};
    for (const user of [
      'admin',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
      'kube-proxy',
    ]) {
      const file = path.join(dir, `${user}.kubeconfig`);
      const { cert, key } = pki.cert(user);
      await writeFile(file, kubeconfigYaml(serverUrl, pki.caCert, cert, key, user), {
        mode: 0o600,
      });
      kubeconfigs[user] = file;
    }
    const cluster = new Cluster({
      dir,
      kubeconfig: path.join(dir, 'admin.kubeconfig'),
      serverUrl,
      etcdUrl,
      binaries,
      components: {},
      nodes: [],
      ...(network ? { network } : {}),
      realNodes: [],
    });
    const etcdCert = pki.cert('etcd');
    await cluster.launch('etcd', binaries.etcd, [
      '--name=e2e',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=https://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=https://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=e2e=https://127.0.0.1:${etcdPeerPort}`,
      `--cert-file=${etcdCert.cert}`,
      `--key-file=${etcdCert.key}`,
      `--trusted-ca-file=${pki.caCert}`,
      '--client-cert-auth',
      `--peer-cert-file=${etcdCert.cert}`,
      `--peer-key-file=${etcdCert.key}`,
      `--peer-trusted-ca-file=${pki.caCert}`,
      '--peer-client-cert-auth',
      // A throw-away test cluster: durability buys nothing and fsync costs seconds per test.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await cluster.launch(
      'kube-apiserver',
      binaries['kube-apiserver'],
      apiServerArgs(pki, apiPort, etcdUrl, network ? { address: network.gateway } : undefined),
    );
    await cluster.waitForApiServer(serverUrl, 120_000);
    await cluster.launch('kube-controller-manager', binaries['kube-controller-manager'], [
      `--kubeconfig=${kubeconfigs['kube-controller-manager']}`,
      `--authentication-kubeconfig=${kubeconfigs['kube-controller-manager']}`,
      `--authorization-kubeconfig=${kubeconfigs['kube-controller-manager']}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      '--leader-elect=false',
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      '--use-service-account-credentials=true',
      '--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle-controller',
      '--concurrent-gc-syncs=5',
      '--kube-api-qps=200',
      '--kube-api-burst=400',
    ]);
    await cluster.launch('kube-scheduler', binaries['kube-scheduler'], [
      `--kubeconfig=${kubeconfigs['kube-scheduler']}`,
      `--authentication-kubeconfig=${kubeconfigs['kube-scheduler']}`,
      `--authorization-kubeconfig=${kubeconfigs['kube-scheduler']}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      '--leader-elect=false',
    ]);
    const kwokConfig = path.join(dir, 'kwok-stages.yaml');
    await writeFile(kwokConfig, await kwokStages());
    await cluster.launch('kwok', binaries.kwok, [
      `--config=${kwokConfig}`,
      `--kubeconfig=${kubeconfigs.kwok}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${kwokNodeAnnotation}=fake`,
      '--cidr=10.244.0.1/16',
      '--node-ip=127.0.0.1',
      '--node-lease-duration-seconds=40',
      `--server-address=127.0.0.1:${kwokPort}`,
    ]);
    await cluster.save();
    await cluster.kubectl(['apply', '-f', '-'], leaseParamInformerAnchor);
    await cluster.addNodes(options.nodes ?? 3);
    for (let i = 0; i < (options.realNodes ?? 0); i++) {
      await cluster.addRealNode(`aci-node-${i}`, options.nodeImages ?? []);
    }
    // Real nodes stay NotReady until a CNI is installed: only the kwok ones are waited for.
    await cluster.waitForNodesReady(120_000, cluster.nodes);
    log(
      `Cluster up in ${Math.round((Date.now() - started) / 1000)}s: KUBECONFIG=${cluster.kubeconfig}`,
    );
    return cluster;
  }

  private async save(): Promise<void> {
    await writeFile(path.join(this.state.dir, 'state.json'), JSON.stringify(this.state, null, 2));
  }

  /**
   * Starts a detached process recorded with the cluster (log in logs/<name>.log),
   * so `cluster:down` stops it too; the demo runs the operator this way.
   */
  async launch(
    name: ComponentName,
    binary: string,
    args: string[],
    env?: NodeJS.ProcessEnv,
  ): Promise<void> {
    // A node's components log under logs/<node>/.
    const logFile = path.join(this.logDir, `${name}.log`);
    mkdirSync(path.dirname(logFile), { recursive: true });
    const fd = openSync(logFile, 'a');
    // Detached: the components outlive the process that started them (cluster:up, the test runner).
    const child = spawn(binary, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(env ? { env } : {}),
    });
    closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new Error(`Failed to start ${name}`);
    this.state.components[name] = { binary, args, pid: child.pid, logFile };
    await this.save();
  }

  /** Stops one component (SIGTERM, then SIGKILL) and waits until it is gone. */
  async stopComponent(name: ComponentName): Promise<void> {
    const component = this.state.components[name];
    if (!component) throw new Error(`No component ${name}`);
    await killAndWait(component.pid);
  }

  /** Starts a stopped component again with the same command line. */
  async startComponent(name: ComponentName): Promise<void> {
    const component = this.state.components[name];
    if (!component) throw new Error(`No component ${name}`);
    if (isAlive(component.pid)) return;
    await this.launch(name, component.binary, component.args);
    if (name.startsWith('kube-apiserver')) await this.waitForApiServer(this.urlOf(name), 120_000);
  }

  private urlOf(name: ComponentName): string {
    const flag = (flagName: string) =>
      this.state.components[name]?.args.find((a) => a.startsWith(`--${flagName}=`))?.split('=')[1];
    return `https://${flag('bind-address') ?? '127.0.0.1'}:${flag('secure-port')}`;
  }

  /**
   * Starts one more kube-apiserver on the same etcd, so a test can stop and
   * start "its" API server without disturbing the rest of the suite.
   * Returns the name of the component and a kubeconfig pointing at it.
   */
  async addApiServer(
    name: string,
  ): Promise<{ component: string; kubeconfig: string; serverUrl: string }> {
    const pki = await loadPki(path.join(this.state.dir, 'pki'));
    const port = await freePort();
    const component = `kube-apiserver-${name}`;
    await this.launch(
      component,
      this.state.binaries['kube-apiserver'],
      apiServerArgs(pki, port, this.state.etcdUrl),
    );
    const serverUrl = `https://127.0.0.1:${port}`;
    await this.waitForApiServer(serverUrl, 120_000);
    const kubeconfig = path.join(this.state.dir, `${component}.kubeconfig`);
    const { cert, key } = pki.cert('admin');
    await writeFile(kubeconfig, kubeconfigYaml(serverUrl, pki.caCert, cert, key, 'admin'), {
      mode: 0o600,
    });
    return { component, kubeconfig, serverUrl };
  }

  async removeComponent(name: ComponentName): Promise<void> {
    await this.stopComponent(name);
    delete this.state.components[name];
    await this.save();
  }

  async kubectl(args: string[], input?: string): Promise<string> {
    return kubectlRun(this.state.binaries.kubectl, this.state.kubeconfig, args, input);
  }

  /**
   * Adds kwok-managed nodes: the cluster's first ones are kwok-node-<i>; later
   * ones get a random infix, so processes attached to the same cluster never
   * pick the same names.
   */
  async addNodes(count: number): Promise<string[]> {
    const prefix =
      this.state.nodes.length === 0 ? 'kwok-node' : `kwok-${randomBytes(3).toString('hex')}`;
    const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    const docs = names.map((name) => JSON.stringify(kwokNode(name)));
    for (let i = 0; i < docs.length; i += 200) {
      await this.kubectl(
        ['apply', '-f', '-'],
        `{"apiVersion":"v1","kind":"List","items":[${docs.slice(i, i + 200).join(',')}]}`,
      );
    }
    this.state.nodes.push(...names);
    await this.save();
    return names;
  }

  async deleteNodes(names: string[]): Promise<void> {
    if (names.length === 0) return;
    await this.kubectl(['delete', 'node', '--wait=false', ...names]);
    this.state.nodes = this.state.nodes.filter((n) => !names.includes(n));
    await this.save();
  }

  async waitForNodesReady(timeoutMs: number, names?: readonly string[]): Promise<void> {
    if (names && names.length === 0) return;
    await this.kubectl([
      'wait',
      '--for=condition=Ready',
      'node',
      ...(names ?? ['--all']),
      `--timeout=${Math.round(timeoutMs / 1000)}s`,
    ]);
  }

  get network(): NodeNetwork | undefined {
    return this.state.network;
  }
  get realNodes(): readonly RealNodeState[] {
    return this.state.realNodes;
  }
  realNode(name: string): RealNodeState {
    const node = this.state.realNodes.find((n) => n.name === name);
    if (!node) throw new Error(`No real node ${name}`);
    return node;
  }

  /**
   * Adds a kubelet + containerd node: its network and mount namespaces,
   * certificates (system:node:<name>), containerd with the images imported,
   * kubelet and kube-proxy. It registers itself and stays NotReady until a
   * CNI configuration appears in its /etc/cni/net.d.
   */
  async addRealNode(name: string, images: readonly string[]): Promise<RealNodeState> {
    const network = this.state.network;
    if (!network) throw new Error('this cluster was started without real nodes (realNodes: 0)');
    const index = this.state.realNodes.length;
    const identity = nodeIdentity(network, this.state.dir, name, index);
    const pki = await loadPki(path.join(this.state.dir, 'pki'));
    await issueCertificate(pki, {
      name: `node-${name}`,
      subject: `/O=system:nodes/CN=system:node:${name}`,
      client: true,
    });
    await issueCertificate(pki, {
      name: `kubelet-serving-${name}`,
      subject: `/CN=${name}`,
      serverNames: [name],
      serverIps: [identity.ip],
    });
    const kubeletKubeconfig = path.join(this.state.dir, `node-${name}.kubeconfig`);
    const nodeCert = pki.cert(`node-${name}`);
    await writeFile(
      kubeletKubeconfig,
      kubeconfigYaml(
        this.state.serverUrl,
        pki.caCert,
        nodeCert.cert,
        nodeCert.key,
        `system:node:${name}`,
      ),
      { mode: 0o600 },
    );
    const node: RealNodeState = { ...identity, initPid: 0, images: [...images] };
    this.state.realNodes.push(node);
    await this.save();
    await this.bootRealNode(node, { importImages: true });
    return node;
  }

  private async bootRealNode(
    node: RealNodeState,
    options: { importImages: boolean },
  ): Promise<void> {
    const network = this.state.network;
    if (!network) throw new Error('no node network');
    node.initPid = await bootNode(network, node);
    await this.save();
    const pki = await loadPki(path.join(this.state.dir, 'pki'));
    const serving = pki.cert(`kubelet-serving-${node.name}`);
    const commands = await prepareNode(
      node,
      {
        caCert: pki.caCert,
        kubeletKubeconfig: path.join(this.state.dir, `node-${node.name}.kubeconfig`),
        kubeProxyKubeconfig: path.join(this.state.dir, 'kube-proxy.kubeconfig'),
        servingCert: serving.cert,
        servingKey: serving.key,
      },
      {
        containerd: 'containerd',
        kubelet: this.state.binaries.kubelet,
        kubeProxy: this.state.binaries['kube-proxy'],
      },
      network.podSubnet,
    );
    for (const command of commands) {
      const [binary, args] = inNode(node.initPid, 'sh', [
        '-c',
        restartAlways,
        command.name,
        command.binary,
        ...command.args,
      ]);
      await this.launch(`${node.name}/${command.name}`, binary, args);
      if (command.name === 'containerd') {
        await waitForFile(hostContainerdSocket(node), 30_000, `containerd of ${node.name}`);
        if (options.importImages) await importImages(node, node.images);
      }
    }
  }

  /** Stops a real node as a power cut would: every process of it, pods included, is killed; its links stay. */
  async stopRealNode(name: string): Promise<void> {
    const node = this.realNode(name);
    for (const component of [...nodeComponents].reverse()) {
      const state = this.state.components[`${name}/${component}`];
      if (state) await killAndWait(state.pid);
    }
    await powerOffNode(node);
  }

  /** Boots a stopped node again; its kubelet recreates its pods. */
  async startRealNode(name: string): Promise<void> {
    await this.bootRealNode(this.realNode(name), { importImages: false });
  }

  /** Stops one component of a real node, leaving its pods running. */
  async stopNodeComponent(name: string, component: NodeComponent): Promise<void> {
    this.realNode(name);
    await this.stopComponent(`${name}/${component}`);
  }

  async startNodeComponent(name: string, component: NodeComponent): Promise<void> {
    this.realNode(name);
    await this.startComponent(`${name}/${component}`);
  }

  /**
   * Gives every real node Debian's reference CNI (bridge + host-local, routed
   * between nodes): the baseline the node benchmark measures the project's
   * CNI against, on the same nodes. `removeReferenceCni` takes it away again.
   */
  async useReferenceCni(): Promise<void> {
    for (const node of this.state.realNodes) {
      const cniDir = path.join(node.dir, 'fs', 'etc_cni', 'net.d');
      const binDir = path.join(node.dir, 'fs', 'opt_cni', 'bin');
      await mkdir(cniDir, { recursive: true });
      await mkdir(binDir, { recursive: true });
      for (const plugin of referencePlugins) {
        await copyFile(path.join('/usr/lib/cni', plugin), path.join(binDir, plugin));
      }
      for (const route of referenceRoutes(node, this.state.realNodes)) {
        await sh('ip', ['-n', node.netns, ...route]);
      }
      await writeFile(
        path.join(cniDir, referenceCniFile),
        JSON.stringify(referenceCniConfig(node), null, 2),
      );
    }
  }

  async removeReferenceCni(): Promise<void> {
    for (const node of this.state.realNodes) {
      await rm(path.join(node.dir, 'fs', 'etc_cni', 'net.d', referenceCniFile), { force: true });
      for (const route of referenceRoutes(node, this.state.realNodes)) {
        await exec('ip', ['-n', node.netns, 'route', 'del', route[2] ?? '']).catch(() => undefined);
      }
    }
  }

  /** Runs a command in a real node's mount and network namespaces (as its own processes see them). */
  async nodeExec(name: string, binary: string, args: string[]): Promise<string> {
    const [command, fullArgs] = inNode(this.realNode(name).initPid, binary, args);
    return sh(command, fullArgs);
  }

  async waitForApiServer(url: string, timeoutMs: number): Promise<void> {
    const pki = await loadPki(path.join(this.state.dir, 'pki'));
    const { cert, key } = pki.cert('admin');
    const agent = new https.Agent({
      ca: readFileSync(pki.caCert),
      cert: readFileSync(cert),
      key: readFileSync(key),
    });
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = await new Promise<string>((resolve) => {
        const req = https.get(`${url}/readyz`, { agent, timeout: 2000 }, (res) => {
          res.resume();
          resolve(String(res.statusCode));
        });
        req.on('error', (err) => resolve(err.message));
        req.on('timeout', () => req.destroy(new Error('timeout')));
      });
      if (last === '200') return;
      await sleep(250);
    }
    throw new Error(
      `kube-apiserver at ${url} not ready after ${timeoutMs}ms (last: ${last}); see ${this.logDir}`,
    );
  }

  /** Last lines of every component log, for test failure reports. */
  async logTails(lines = 40): Promise<string> {
    const parts: string[] = [];
    for (const [name, component] of Object.entries(this.state.components)) {
      const text = await readFile(component.logFile, 'utf8').catch(() => '');
      parts.push(
        `----- ${name} (${component.logFile}) -----\n${text.split('\n').slice(-lines).join('\n')}`,
      );
    }
    return parts.join('\n');
  }

  async stop(): Promise<void> {
    await stopByState(this.state.dir);
  }
}

/**
 * @param nodes present when real nodes reach this API server: it listens on
 *   their bridge, advertises that address as the `kubernetes` Service
 *   endpoint, and reaches kubelets by their InternalIP (not through this
 *   machine's resolver).
 */
function apiServerArgs(
  pki: Pki,
  port: number,
  etcdUrl: string,
  nodes?: { address: string },
): string[] {
  const etcdClient = pki.cert('apiserver-etcd-client');
  const serving = pki.cert('apiserver');
  const kubeletClient = pki.cert('apiserver-kubelet-client');
  return [
    `--etcd-servers=${etcdUrl}`,
    `--etcd-cafile=${pki.caCert}`,
    `--etcd-certfile=${etcdClient.cert}`,
    `--etcd-keyfile=${etcdClient.key}`,
    `--bind-address=${nodes?.address ?? '127.0.0.1'}`,
    `--secure-port=${port}`,
    `--tls-cert-file=${serving.cert}`,
    `--tls-private-key-file=${serving.key}`,
    `--client-ca-file=${pki.caCert}`,
    `--kubelet-client-certificate=${kubeletClient.cert}`,
    `--kubelet-client-key=${kubeletClient.key}`,
    '--authorization-mode=Node,RBAC',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    // Dual-stack Services, so IPv6 and dual-stack LoadBalancer cases are real.
    '--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/112',
    '--allow-privileged=true',
    ...(nodes
      ? [
          `--advertise-address=${nodes.address}`,
          '--endpoint-reconciler-type=lease',
          '--kubelet-preferred-address-types=InternalIP,Hostname',
          `--kubelet-certificate-authority=${pki.caCert}`,
        ]
      : [
          // The loopback address cannot be a `kubernetes` Service endpoint; kwok nodes need none.
          '--endpoint-reconciler-type=none',
          '--advertise-address=127.0.0.1',
        ]),
    '--max-requests-inflight=1000',
    '--max-mutating-requests-inflight=500',
    '--profiling=false',
  ];
}

async function loadPki(dir: string): Promise<Pki> {
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    serviceAccountKey: path.join(dir, 'sa.key'),
    serviceAccountPub: path.join(dir, 'sa.pub'),
    cert: (name) => ({ cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) }),
  };
}

export async function kubectlRun(
  kubectl: string,
  kubeconfig: string,
  args: string[],
  input?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      kubectl,
      [`--kubeconfig=${kubeconfig}`, ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`kubectl ${args.join(' ')} failed: ${stderr || error.message}`));
        else resolve(stdout);
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

export function kwokNode(name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [kwokNodeAnnotation]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
    },
  };
}

async function killAndWait(pid: number): Promise<void> {
  for (const [signal, waitMs] of [
    ['SIGTERM', 10_000],
    ['SIGKILL', 5_000],
  ] as const) {
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        return;
      }
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!isAlive(pid)) return;
      await sleep(100);
    }
  }
}

/** Stops every component recorded in <dir>/state.json; a missing file means nothing runs. */
export async function stopByState(dir: string): Promise<void> {
  const text = await readFile(path.join(dir, 'state.json'), 'utf8').catch(() => undefined);
  if (!text) return;
  const state = JSON.parse(text) as ClusterState;
  // Reverse start order: nodes, kwok and controllers before the API server, etcd last.
  const components = Object.values(state.components).reverse();
  for (const component of components) await killAndWait(component.pid);
  for (const node of state.realNodes ?? []) await destroyNode(node);
  if (state.network) await removeNodeNetwork(state.network);
}

export { exec as execFileAsync };
