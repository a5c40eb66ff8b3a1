/**
 * What the controller's e2e tests share: a fresh APIC simulator with the
 * objects an admin would have made (VRF tenant, L3Out, external network, VMM
 * domain and its controller), a ControllerConfig and AciFabric for it, and a
 * scope (node and namespace labels) so several test files can run
 * controllers against the one test cluster without touching each other's
 * nodes. The controller itself runs as in production, over the whole
 * cluster it sees: what it sees is this file's scope, through
 * scope-proxy.ts. Every file gets its own pod/extern subnets as well.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import {
  AciFabricSpec,
  apiVersion as aciApiVersion,
  type AciFabricSpecInput,
} from '../../../crds/index.ts';
import { controllerConfig } from '../../../operator/render/config.ts';
import { kwokNode } from '../../cluster/cluster.ts';
import { ApicSimulator, type StartedSimulator } from '../../apic-simulator/simulator.ts';
import { ensureCrds, eventually, testClient, testCluster, uniqueName } from '../cluster.ts';
import { startScopeProxy } from './scope-proxy.ts';
import {
  componentRbac,
  recordAccess,
  serviceAccountLogin,
  type Access,
  type ServiceAccountLogin,
} from '../rbac.ts';
import { ControllerName } from '../../../operator/render/names.ts';
import { repoRoot } from '../paths.ts';
import type { ControllerConfig } from '../../../lib/config/components.ts';
import { aciNames } from '../../../lib/config/naming.ts';
import { KubeClient } from '../../../lib/kube/client.ts';
import type { KubeObject } from '../../../lib/kube/types.ts';
import type { Mo } from '../../../agents/controller/apic/mo.ts';
import { isOwned } from '../../../agents/controller/apic/diff.ts';
import {
  startController,
  type ControllerOptions,
  type RunningController,
} from '../../../agents/controller/controller.ts';

export const ScopeLabel = 'aci.cni.dev/test-scope';

export interface HarnessOptions {
  /** 1..40: picks this file's subnets (10.<100+n>.0.0/16 pods, 10.<150+n>.0.0/24 LB dynamic, 10.<200+n>.0.0/24 LB static). */
  slot: number;
  chunkSize?: number;
  maxNodesServiceGraph?: number;
  podSubnets?: string[];
  externDynamic?: string[];
  externStatic?: string[];
  /** AciFabric spec.aci fields beyond the defaults (provision, adoptExisting, ...). */
  aci?: Partial<AciFabricSpecInput['aci']>;
}

export interface Harness {
  id: string;
  client: KubeClient;
  sim: ApicSimulator;
  apic: StartedSimulator;
  config: ControllerConfig;
  configFile: string;
  credentialsDir: string;
  namespace: string;
  fabricName: string;
  /** The controller's service account: start() and spawn() authenticate as it, under its rendered RBAC. */
  controllerLogin: ServiceAccountLogin;
  /** Every API request of the controllers start() made, as RBAC sees it. */
  controllerAccess: Access[];
  /** Makes a namespace in scope (deleted at cleanup). */
  createNamespace(prefix: string): Promise<string>;
  addNodes(count: number): Promise<string[]>;
  deleteNodes(names: readonly string[]): Promise<void>;
  start(extra?: Partial<ControllerOptions>): Promise<RunningController>;
  /** The controller as its own process (main.ts), for kill -9 tests; `config` changes its config file. */
  spawn(config?: Partial<ControllerConfig>): ChildProcess;
  /** The Lease holder identity of a spawned controller, as it logs it at start. */
  identityOf(child: ChildProcess): Promise<string>;
  /** The last lines a spawned controller logged (JSON, as it wrote them): for a failed test's report. */
  logOf(child: ChildProcess): readonly string[];
  /** Who holds the controller Lease now, if anyone. */
  leaseHolder(): Promise<string | undefined>;
  /** Objects in the simulator's tree owned by this cluster: dn → attributes. */
  owned(): Map<string, Record<string, string>>;
  cleanup(): Promise<void>;
}

function kube(object: Record<string, unknown>): KubeObject {
  return object as unknown as KubeObject;
}

export function fabricSpec(
  id: string,
  network: ControllerConfig['network'],
  aci: Partial<AciFabricSpecInput['aci']> = {},
): AciFabricSpecInput {
  return {
    systemId: id,
    namespace: 'aci-containers-system',
    apic: {
      hosts: ['127.0.0.1'],
      credentials: { method: 'Password', secretRef: { name: 'apic' } },
    },
    aci: {
      tenant: { name: id },
      vrf: { name: 'vrf1', tenant: 'common' },
      l3out: { name: 'l3out1', externalNetworks: ['ext1'] },
      aep: 'aep1',
      vmmDomain: {
        encapType: 'vxlan',
        multicastRange: { start: '225.20.1.1', end: '225.20.255.255' },
      },
      ...aci,
    },
    network: {
      nodeSubnet: network.nodeSubnet,
      podSubnets: network.podSubnets,
      podSubnetChunkSize: network.podSubnetChunkSize,
      nodeServiceSubnet: network.nodeServiceSubnet,
      externDynamic: network.externDynamic,
      externStatic: network.externStatic,
      kubeapiVlan: network.kubeapiVlan,
      serviceVlan: network.serviceVlan,
      infraVlan: network.infraVlan,
    },
  };
}

export async function harness(options: HarnessOptions): Promise<Harness> {
  const client = await testClient();
  await ensureCrds(client);
  const id = uniqueName(`ctl${options.slot}`);
  const namespace = id;
  const fabricName = id;
  const sim = new ApicSimulator({ users: { admin: 'secret-pw' } });
  const apic = await sim.start({ port: 0 });
  const dir = await mkdtemp(path.join(os.tmpdir(), `${id}-`));
  const credentialsDir = path.join(dir, 'credentials');
  await mkdir(credentialsDir);
  await writeFile(path.join(credentialsDir, 'username'), 'admin\n');
  await writeFile(path.join(credentialsDir, 'password'), 'secret-pw\n');
  const caBundleFile = path.join(dir, 'ca.crt');
  await writeFile(caBundleFile, apic.caPem);

  // IPv4 only: the AciFabric refuses IPv6 until the data plane carries it (crds/schemas/acifabric.ts).
  // The tests read the families from config.network, so dual stack returns with the subnets.
  const network: ControllerConfig['network'] = {
    nodeSubnet: `10.${40 + options.slot}.0.1/16`,
    podSubnets: options.podSubnets ?? [`10.${100 + options.slot}.0.1/16`],
    podSubnetChunkSize: options.chunkSize ?? 32,
    nodeServiceSubnet: `10.${80 + options.slot}.0.1/22`,
    externDynamic: options.externDynamic ?? [`10.${150 + options.slot}.0.0/24`],
    externStatic: options.externStatic ?? [`10.${200 + options.slot}.0.0/24`],
    kubeapiVlan: 4001,
    serviceVlan: 4003,
    infraVlan: 4093,
    mtu: 1500,
  };
  const spec = fabricSpec(id, network, options.aci);
  const parsedSpec = AciFabricSpec.parse(spec);
  const names = aciNames(parsedSpec);
  // The operator's own render of the config file, adjusted only for what a test run differs in.
  const rendered = controllerConfig({ fabric: { name: fabricName, uid: '' }, spec: parsedSpec });
  const config: ControllerConfig = {
    ...rendered,
    logLevel: 'warn',
    namespace,
    apic: { ...rendered.apic, hosts: [apic.url], credentialsDir, caBundleFile },
    aci: { ...rendered.aci, systemNamespaces: ['kube-system'] },
    network,
    loadBalancing: { maxNodesServiceGraph: options.maxNodesServiceGraph ?? 32 },
    healthPort: 0,
    // Short leases make failover tests quick.
    leaderElection: {
      namespace,
      leaseName: 'aci-containers-controller',
      leaseDurationSeconds: 4,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
    },
  };
  const configFile = path.join(dir, 'controller.conf');
  await writeFile(configFile, JSON.stringify(config, null, 2));

  // What an admin (and acc-provision) made before the cluster existed.
  sim.externalPost('uni/tn-common', {
    fvCtx: { attributes: { dn: 'uni/tn-common/ctx-vrf1', name: 'vrf1' } },
  } as Mo);
  sim.externalPost('uni/tn-common', {
    l3extOut: {
      attributes: { dn: 'uni/tn-common/out-l3out1', name: 'l3out1' },
      children: [{ l3extInstP: { attributes: { rn: 'instP-ext1', name: 'ext1' } } }],
    },
  } as Mo);
  // With provision Fabric the controller makes the VMM domain itself.
  if (spec.aci.provision !== 'Fabric')
    sim.externalPost('uni/vmmp-Kubernetes', {
      vmmDomP: {
        attributes: { dn: `uni/vmmp-Kubernetes/dom-${names.vmmDomain}`, name: names.vmmDomain },
      },
    } as Mo);
  sim.externalPost('comp/prov-Kubernetes', {
    compCtrlr: {
      attributes: {
        dn: `comp/prov-Kubernetes/ctrlr-[${names.vmmDomain}]-${names.vmmController}`,
        name: names.vmmController,
        domName: names.vmmDomain,
      },
      children: [{ vmmInjectedCont: { attributes: { rn: 'injcont' } } }],
    },
  } as Mo);

  const namespaces: string[] = [];
  const nodes = new Set<string>();
  // Every node this file ever made: a deleted node's PodIPPool stays the controller's to remove.
  const scopeNodes = new Set<string>();
  const scopeNamespaces = new Set<string>([namespace]);
  const cluster = await testCluster();
  const pki = path.join(cluster.dir, 'pki');
  const proxy = await startScopeProxy({
    upstream: cluster.serverUrl,
    certFile: path.join(pki, 'apiserver.crt'),
    keyFile: path.join(pki, 'apiserver.key'),
    caFile: path.join(pki, 'ca.crt'),
    view: { label: `${ScopeLabel}=${id}`, namespaces: scopeNamespaces, nodes: scopeNodes },
  });
  const controllers: RunningController[] = [];
  const children: ChildProcess[] = [];

  const createNamespace = async (prefix: string) => {
    const name = uniqueName(prefix);
    scopeNamespaces.add(name);
    await client.apply(
      kube({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { [ScopeLabel]: id } },
      }),
      { fieldManager: 'aci-e2e' },
    );
    namespaces.push(name);
    return name;
  };
  await client.apply(
    kube({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace, labels: { [ScopeLabel]: id } },
    }),
    { fieldManager: 'aci-e2e' },
  );
  namespaces.push(namespace);
  await client.apply(
    kube({
      apiVersion: aciApiVersion,
      kind: 'AciFabric',
      // A controller fixture: an operator running in the same test cluster must leave it alone.
      metadata: { name: fabricName, annotations: { 'aci.cni.dev/paused': 'true' } },
      spec,
    }),
    { fieldManager: 'aci-e2e' },
  );

  // The controller runs as in the cluster: its own service account, bound by the RBAC the
  // operator renders for this namespace, never the admin's kubeconfig.
  const rbac = componentRbac(
    { fabric: { name: fabricName, uid: '' }, spec: { ...parsedSpec, namespace } },
    id,
  );
  for (const object of rbac) await client.apply(object, { fieldManager: 'aci-e2e' });
  const controllerLogin = await serviceAccountLogin(namespace, ControllerName);
  // The controller's own credentials, with the scope proxy as its API server.
  const controllerKubeconfig = path.join(dir, 'controller.kubeconfig');
  await writeFile(
    controllerKubeconfig,
    (await readFile(controllerLogin.kubeconfig, 'utf8')).replace(cluster.serverUrl, proxy.url),
    { mode: 0o600 },
  );
  const accessLogs: Access[][] = [];
  const identities = new WeakMap<ChildProcess, Promise<string>>();
  const logs = new WeakMap<ChildProcess, string[]>();

  let counter = 0;
  const h: Harness = {
    id,
    client,
    sim,
    apic,
    config,
    configFile,
    credentialsDir,
    namespace,
    fabricName,
    controllerLogin,
    get controllerAccess() {
      return accessLogs.flat();
    },
    createNamespace,
    async addNodes(count) {
      const names = Array.from({ length: count }, () => `${id}-n${counter++}`);
      const queue = [...names];
      const worker = async () => {
        for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
          const node = kwokNode(name) as { metadata: { labels: Record<string, string> } };
          node.metadata.labels[ScopeLabel] = id;
          scopeNodes.add(name);
          await client.create(kube(node as unknown as Record<string, unknown>));
          nodes.add(name);
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      return names;
    },
    async deleteNodes(list) {
      await Promise.all(
        list.map((name) => client.delete({ apiVersion: 'v1', kind: 'Node', name })),
      );
      for (const name of list) nodes.delete(name);
    },
    async start(extra = {}) {
      const ownClient = (): KubeClient => {
        const c = KubeClient.fromFile(controllerKubeconfig);
        const seen = recordAccess(c);
        accessLogs.push(seen);
        return c;
      };
      const controller = await startController({
        config,
        healthPort: 0,
        healthHost: '127.0.0.1',
        defaultMetrics: false,
        logger: pino({ level: process.env.ACI_TEST_LOG ?? 'warn' }),
        apicTuning: {
          retryBackoff: { initialMs: 100, maxMs: 2000 },
          writesPerSecond: 500,
          maxRetries: 2,
          requestTimeoutMs: 5000,
        },
        statusIntervalMs: 200,
        ...extra,
        client: extra.client ?? ownClient(),
      });
      controllers.push(controller);
      return controller;
    },
    spawn(overrides = {}) {
      const file = path.join(dir, `controller-${children.length}.conf`);
      // Info level: the identity the process leads under is in its "Started controller" line.
      writeFileSync(file, JSON.stringify({ ...config, logLevel: 'info', ...overrides }, null, 2));
      const child = spawn(
        process.execPath,
        [
          '--import=tsx',
          path.join(repoRoot, 'agents/controller/main.ts'),
          `--config=${file}`,
          '--health-address=127.0.0.1',
        ],
        {
          cwd: repoRoot,
          env: { ...process.env, KUBECONFIG: controllerKubeconfig },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      children.push(child);
      const lines: string[] = [];
      logs.set(child, lines);
      identities.set(child, identityFromLog(child, lines));
      return child;
    },
    async leaseHolder() {
      const lease = await client.read<KubeObject & { spec?: { holderIdentity?: string } }>({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        name: config.leaderElection.leaseName,
        namespace: config.leaderElection.namespace,
      });
      return lease?.spec?.holderIdentity || undefined;
    },
    logOf(child) {
      return logs.get(child) ?? [];
    },
    identityOf(child) {
      const identity = identities.get(child);
      if (!identity) return Promise.reject(new Error('not a controller this harness spawned'));
      return identity;
    },
    owned() {
      const dump = sim.tree.dump();
      const actual = new Map(dump.map((o) => [o.dn, { cls: o.cls, attrs: o.attrs }]));
      const out = new Map<string, Record<string, string>>();
      for (const o of dump) {
        if (o.cls === 'tagAnnotation') continue;
        if (isOwned(o.dn, actual, config.aci.objectPrefix))
          out.set(o.dn, { ...o.attrs, class: o.cls });
      }
      return out;
    },
    async cleanup() {
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all(controllers.map((c) => c.stop().catch(() => undefined)));
      await Promise.all(
        [...nodes].map((name) =>
          client.delete({ apiVersion: 'v1', kind: 'Node', name }).catch(() => false),
        ),
      );
      await Promise.all(
        namespaces.map((name) =>
          client.delete({ apiVersion: 'v1', kind: 'Namespace', name }).catch(() => false),
        ),
      );
      await client
        .delete({ apiVersion: aciApiVersion, kind: 'AciFabric', name: fabricName })
        .catch(() => false);
      for (const o of rbac)
        if (!o.metadata.namespace)
          await client
            .delete({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name })
            .catch(() => false);
      controllerLogin.client.close();
      await proxy.close();
      await apic.stop();
      await rm(dir, { recursive: true, force: true });
      client.close();
    },
  };
  return h;
}

/** Lines of a spawned controller's log kept for a failure report: enough for a test's few minutes. */
const keptLogLines = 20_000;

/**
 * The identity in the child's "Started controller" log line. The rest of its
 * log is read (a full pipe would stall the child) into `kept`, the newest
 * lines only; warnings and errors also go on to this process's stderr.
 */
function identityFromLog(child: ChildProcess, kept: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!child.stdout) return reject(new Error('controller stdout is not piped'));
    let found = false;
    createInterface({ input: child.stdout }).on('line', (line) => {
      kept.push(line);
      if (kept.length > keptLogLines) kept.splice(0, kept.length - keptLogLines);
      let entry: { level?: number; msg?: string; identity?: unknown } = {};
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        process.stderr.write(`${line}\n`);
        return;
      }
      if (!found && entry.msg === 'Started controller' && typeof entry.identity === 'string') {
        found = true;
        resolve(entry.identity);
      }
      if ((entry.level ?? 0) >= 40) process.stderr.write(`${line}\n`);
    });
    child.once('exit', (code, signal) => {
      if (!found) reject(new Error(`controller exited (${code ?? signal}) before it started`));
    });
  });
}

/** Waits for a controller to lead and finish its first APIC sync. */
export async function waitLeading(
  controller: RunningController,
  what = 'controller to lead',
): Promise<void> {
  await eventually(
    async () => controller.isLeader() && controller.session() !== undefined,
    what,
    30_000,
  );
}
