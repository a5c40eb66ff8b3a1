/**
 * The host agent's CNI server: the CNI plugin executable forwards each
 * runtime call over a unix socket (protocol in docs/cni.md), and this server
 * does the work: IP allocation, pod interface, OVS port, endpoint file.
 *
 * Shape after Antrea's cniserver: every command validates first and answers
 * with named error builders; work is serialized per container id; ADD rolls
 * back by a deferred teardown unless it succeeded; reconcile() at start
 * replays this node's persisted allocations.
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { IpamExhaustedError } from '../ipam/index.ts';
import type { Allocation, IpamStore, PodRef, PodSubnet } from '../ipam/index.ts';
import type { PodDataplane } from '../netconf/types.ts';
import { interfaceProblems } from '../netconf/check.ts';
import { HostVethPrefix, hostVethName, isValidIfName } from '../netconf/names.ts';
import { isSafeNetnsPath } from '../netconf/check.ts';
import { buildEndpointFile, defaultEndpointPolicy, endpointUuid } from '../endpoints/index.ts';
import type { EndpointFileStore, EndpointPolicyFn } from '../endpoints/index.ts';
import * as errors from './errors.ts';
import { CniError } from './errors.ts';
import { KeyedMutex } from './keyedmutex.ts';
import { DefaultMtu, planPodInterface } from './plan.ts';
import type { PodInterfacePlan } from './plan.ts';
import { runPlugin } from '../../cni/plugin.ts';
import type { PluginOutcome } from '../../cni/plugin.ts';
import {
  CniRequest,
  MaxMessageBytes,
  PluginForward,
  isSupportedVersion,
  versionAtLeast,
} from './protocol.ts';
import type { CniResponse } from './protocol.ts';
import { CniResult, buildResult } from './result.ts';

export interface CniServerOptions {
  /** Unix socket the plugin connects to (the network config's `serverSocket`). */
  readonly socketPath: string;
  readonly ipam: IpamStore;
  readonly endpoints: EndpointFileStore;
  readonly dataplane: PodDataplane;
  /** The cluster's pod subnets with their gateways; every chunk lies in one of them. */
  readonly subnets: readonly PodSubnet[];
  /** Pod interface MTU unless the network config sets one. */
  readonly mtu?: number;
  /** EPG, security groups and bridge domain of a pod; default: the original's default EPG. */
  readonly endpointPolicy?: EndpointPolicyFn;
  /** Labels of a pod for endpointPolicy (from the host agent's pod informer); default none. */
  readonly podLabels?: (
    namespace: string,
    name: string,
  ) => Readonly<Record<string, string>> | Promise<Readonly<Record<string, string>>>;
  readonly logger?: Logger;
}

export interface ReconcileReport {
  /** Allocations whose netns still exists, with endpoint file and port ensured. */
  readonly kept: number;
  /** Allocations whose netns is gone: interface, port, endpoint file and IP removed. */
  readonly removed: number;
  /** Endpoint files without allocation, removed. */
  readonly strayEndpoints: number;
  /** Host veths on the bridge without allocation, removed. */
  readonly strayPorts: number;
  /** Attachments (or the port sweep) that could not be reconciled; logged, retried at next start. */
  readonly failed: number;
}

type Handled = { readonly result: unknown } | { readonly error: CniError };

export class CniServer {
  private readonly log: Logger;
  private readonly mutex = new KeyedMutex();
  /** containerId/ifName of attachments the last reconcile() failed on. */
  private readonly unreconciled = new Set<string>();
  private readonly policy: EndpointPolicyFn;
  private server: Server | undefined;

  constructor(private readonly opts: CniServerOptions) {
    this.log = opts.logger ?? pino({ name: 'cniserver' });
    this.policy = opts.endpointPolicy ?? defaultEndpointPolicy();
  }

  /** Starts serving on the socket, replacing a stale socket file of an earlier run. */
  async listen(): Promise<void> {
    await mkdir(dirname(this.opts.socketPath), { recursive: true });
    await rm(this.opts.socketPath, { force: true });
    const server = createServer({ allowHalfOpen: true }, (conn) => this.serveConnection(conn));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Only root (the runtime) may drive pod networking.
    await chmod(this.opts.socketPath, 0o600);
    this.server = server;
    this.log.info({ socket: this.opts.socketPath }, 'Started CNI server');
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.opts.socketPath, { force: true });
    this.log.info({ socket: this.opts.socketPath }, 'Stopped CNI server');
  }

  private serveConnection(conn: Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    conn.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MaxMessageBytes) {
        conn.destroy();
        return;
      }
      chunks.push(b);
    });
    conn.on('error', (err) => this.log.warn({ err }, 'Dropped CNI connection'));
    conn.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const forwarded = decodeForward(text);
      if (forwarded) {
        void this.handleForward(forwarded).then(({ exitCode, stdout }) => {
          conn.end(`${exitCode}\n${stdout}`);
        });
        return;
      }
      void this.handleText(text).then((response) => {
        conn.end(`${JSON.stringify(response)}\n`);
      });
    });
  }

  /**
   * Runs the plugin logic on a call the native plugin forwarded untouched:
   * the same validation and error mapping as the node plugin, answered here
   * instead of in a process of its own. The socket is already the one the
   * config names (the forwarder connected to it), so the call stays here.
   */
  async handleForward(forwarded: PluginForward): Promise<PluginOutcome> {
    return runPlugin(forwarded.plugin.env, forwarded.plugin.stdin, (_socket, request) =>
      this.handle(request),
    );
  }

  /** Decodes one request and answers it; exposed for tests that skip the socket. */
  async handleText(text: string): Promise<CniResponse> {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      return { error: errors.decodeFailure('CNI request', err).toBody('1.0.0') };
    }
    return this.handle(raw);
  }

  /** Validates and runs one request. Never throws: every failure becomes a CNI error object. */
  async handle(raw: unknown): Promise<CniResponse> {
    const version = versionOf(raw);
    const started = process.hrtime.bigint();
    const parsed = CniRequest.safeParse(raw);
    if (!parsed.success) {
      const configIssue = parsed.error.issues.some((i) => i.path[0] === 'config');
      const msg = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`)
        .join('; ');
      const err = configIssue ? errors.invalidNetworkConfig(msg) : errors.invalidEnvironment(msg);
      return { error: err.toBody(version) };
    }
    const req = parsed.data;
    let out: Handled;
    try {
      out = await this.dispatch(req);
    } catch (err) {
      out = { error: err instanceof CniError ? err : errors.internalError(err) };
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const fields = { command: req.command, containerId: req.containerId, ifName: req.ifName, ms };
    if ('error' in out) {
      this.log.warn(
        { ...fields, code: out.error.code, msg: out.error.message, details: out.error.details },
        'Failed CNI command',
      );
      return { error: out.error.toBody(req.config.cniVersion) };
    }
    this.log.info(fields, 'Handled CNI command');
    return { result: out.result };
  }

  private async dispatch(req: CniRequest): Promise<Handled> {
    const v = req.config.cniVersion;
    if (!isSupportedVersion(v)) throw errors.incompatibleVersion(v);
    switch (req.command) {
      case 'ADD':
        this.requireEnv(req, true);
        return { result: await this.mutex.run(req.containerId, () => this.add(req)) };
      case 'DEL':
        this.requireEnv(req, false);
        await this.mutex.run(req.containerId, () => this.del(req));
        return { result: null };
      case 'CHECK':
        if (!versionAtLeast(v, '0.4.0'))
          throw errors.incompatibleVersion(v, 'has no CHECK (needs 0.4.0 or later)');
        this.requireEnv(req, true);
        await this.mutex.run(req.containerId, () => this.check(req));
        return { result: null };
      case 'STATUS':
        if (!versionAtLeast(v, '1.1.0'))
          throw errors.incompatibleVersion(v, 'has no STATUS (needs 1.1.0)');
        this.status();
        return { result: null };
      case 'GC':
        if (!versionAtLeast(v, '1.1.0'))
          throw errors.incompatibleVersion(v, 'has no GC (needs 1.1.0)');
        await this.gc(req);
        return { result: null };
    }
  }

  private requireEnv(req: CniRequest, needsNetns: boolean): void {
    if (req.containerId === '') throw errors.invalidEnvironment('CNI_CONTAINERID is required');
    if (!isValidIfName(req.ifName)) {
      throw errors.invalidEnvironment(
        `CNI_IFNAME ${JSON.stringify(req.ifName)} is not a valid interface name`,
      );
    }
    if (needsNetns || req.netns !== '') {
      if (req.netns === '') throw errors.invalidEnvironment('CNI_NETNS is required');
      if (!isSafeNetnsPath(req.netns)) {
        throw errors.invalidEnvironment(
          `CNI_NETNS ${JSON.stringify(req.netns)} must be an absolute path without spaces or quotes`,
        );
      }
    }
  }

  private mtuOf(req: CniRequest): number {
    return req.config.mtu ?? this.opts.mtu ?? DefaultMtu;
  }

  private plan(allocation: Allocation, netns: string, mtu: number): PodInterfacePlan {
    try {
      return planPodInterface(allocation, netns, this.opts.subnets, mtu);
    } catch (err) {
      throw errors.ipamFailure(err);
    }
  }

  // --- ADD ------------------------------------------------------------------

  private async add(req: CniRequest): Promise<unknown> {
    if (!(await this.opts.dataplane.netnsExists(req.netns))) {
      throw errors.invalidEnvironment(`network namespace ${req.netns} does not exist`);
    }
    const pod = podRefOf(req.args);
    let allocated: { allocation: Allocation; existing: boolean };
    try {
      allocated = await this.opts.ipam.allocate({
        containerId: req.containerId,
        ifName: req.ifName,
        netns: req.netns,
        ...(pod ? { pod } : {}),
      });
    } catch (err) {
      if (err instanceof IpamExhaustedError) throw errors.ipamFailure(err);
      throw errors.ioFailure('failed to persist the IP allocation', err);
    }
    const { allocation, existing } = allocated;
    let succeeded = false;
    try {
      const plan = this.plan(allocation, req.netns, this.mtuOf(req));
      if (existing && (await this.isHealthy(plan))) {
        // A repeated ADD (runtime retry): same addresses, nothing to redo.
        this.log.info(
          { containerId: req.containerId, ips: allocation.ips },
          'Found pod interface already set up',
        );
      } else {
        if (existing) await this.opts.dataplane.deleteInterface(plan.spec.hostIfName);
        await this.setUp(plan, allocation);
      }
      succeeded = true;
      this.log.info(
        {
          containerId: req.containerId,
          ifName: req.ifName,
          ips: allocation.ips,
          hostIf: plan.spec.hostIfName,
        },
        'Configured pod interface',
      );
      return buildResult({
        cniVersion: req.config.cniVersion,
        hostIfName: plan.spec.hostIfName,
        hostMac: plan.spec.hostMac,
        ifName: req.ifName,
        mac: plan.spec.mac,
        netns: req.netns,
        ips: plan.ips,
        routes: plan.spec.routes,
        dns: req.config.dns,
      });
    } finally {
      if (!succeeded) {
        // Deferred rollback: leave nothing half-done behind a failed ADD.
        await this.teardown(allocation).catch((err: unknown) =>
          this.log.error(
            { err, containerId: req.containerId },
            'Failed to roll back pod interface',
          ),
        );
      }
    }
  }

  private async setUp(plan: PodInterfacePlan, allocation: Allocation): Promise<void> {
    const dp = this.opts.dataplane;
    try {
      await dp.createInterface(plan.spec);
    } catch (err) {
      throw errors.interfaceSetupFailure(err);
    }
    try {
      await dp.attachPort(plan.spec.hostIfName, {
        containerId: allocation.containerId,
        endpointUuid: plan.endpointUuid,
        mac: plan.spec.mac,
      });
    } catch (err) {
      throw errors.ovsFailure(err);
    }
    await this.writeEndpoint(plan, allocation);
  }

  private async writeEndpoint(plan: PodInterfacePlan, allocation: Allocation): Promise<void> {
    const namespace = allocation.pod?.namespace ?? '';
    const name = allocation.pod?.name ?? '';
    const labels = (await this.opts.podLabels?.(namespace, name)) ?? {};
    const policy = await this.policy({ namespace, name, labels });
    try {
      await this.opts.endpoints.write(
        buildEndpointFile({
          uuid: plan.endpointUuid,
          namespace,
          podName: name,
          containerId: allocation.containerId,
          hostIfName: plan.spec.hostIfName,
          mac: plan.spec.mac,
          ips: allocation.ips,
          gateways: plan.gateways,
          policy,
        }),
      );
    } catch (err) {
      throw errors.ioFailure('failed to write the endpoint file', err);
    }
  }

  private async isHealthy(plan: PodInterfacePlan): Promise<boolean> {
    const dp = this.opts.dataplane;
    const [hostIf, ep] = await Promise.all([
      dp.hostInterfaceExists(plan.spec.hostIfName),
      this.opts.endpoints.read(plan.endpointUuid),
    ]);
    if (!hostIf || !ep) return false;
    const observed = await dp.inspectInterface(plan.spec.netns, plan.spec.ifName);
    return interfaceProblems(plan.spec, observed).length === 0;
  }

  // --- DEL ------------------------------------------------------------------

  private async del(req: CniRequest): Promise<void> {
    const allocation = this.opts.ipam.find(req.containerId, req.ifName);
    if (allocation) {
      await this.teardown(allocation);
      this.log.info(
        { containerId: req.containerId, ifName: req.ifName, ips: allocation.ips },
        'Deleted pod interface',
      );
      return;
    }
    // Unknown to IPAM (never added, or already deleted): still remove what a
    // crashed ADD may have left, found by the deterministic names. Best
    // effort: a DEL of an unknown container must succeed (the runtime would
    // otherwise retry forever), and reconcile() sweeps stray ports anyway.
    const hostIf = hostVethName(req.containerId, req.ifName);
    try {
      await this.opts.endpoints.remove(
        endpointUuid(req.args.K8S_POD_UID, req.containerId, req.ifName),
      );
      await this.removeDataplane(hostIf);
    } catch (err) {
      this.log.warn(
        { err, containerId: req.containerId, hostIf },
        'Failed to clean up after an unknown container',
      );
    }
  }

  /** Removes everything of one pod interface, the IP last so it is never reused while still configured. */
  private async teardown(allocation: Allocation): Promise<void> {
    const uuid = endpointUuid(allocation.pod?.uid, allocation.containerId, allocation.ifName);
    try {
      await this.opts.endpoints.remove(uuid);
    } catch (err) {
      throw errors.ioFailure('failed to remove the endpoint file', err);
    }
    await this.removeDataplane(hostVethName(allocation.containerId, allocation.ifName));
    try {
      await this.opts.ipam.release(allocation.containerId, allocation.ifName);
    } catch (err) {
      throw errors.ioFailure('failed to persist the IP release', err);
    }
  }

  private async removeDataplane(hostIf: string): Promise<void> {
    try {
      await this.opts.dataplane.detachPort(hostIf);
    } catch (err) {
      throw errors.ovsFailure(err);
    }
    try {
      await this.opts.dataplane.deleteInterface(hostIf);
    } catch (err) {
      throw errors.interfaceSetupFailure(err);
    }
  }

  // --- CHECK ----------------------------------------------------------------

  private async check(req: CniRequest): Promise<void> {
    const allocation = this.opts.ipam.find(req.containerId, req.ifName);
    if (!allocation) throw errors.containerUnknown(req.containerId, req.ifName);
    const plan = this.plan(allocation, req.netns, this.mtuOf(req));
    const problems: string[] = [];
    problems.push(...prevResultProblems(req.config.prevResult, allocation));
    const [hostIf, ep] = await Promise.all([
      this.opts.dataplane.hostInterfaceExists(plan.spec.hostIfName),
      this.opts.endpoints.read(plan.endpointUuid),
    ]);
    if (!hostIf) problems.push(`host interface ${plan.spec.hostIfName} does not exist`);
    if (!ep) problems.push(`endpoint file ${plan.endpointUuid} is missing or invalid`);
    let observed;
    try {
      observed = await this.opts.dataplane.inspectInterface(req.netns, req.ifName);
    } catch (err) {
      throw errors.ioFailure(`failed to inspect ${req.ifName} in ${req.netns}`, err);
    }
    problems.push(...interfaceProblems(plan.spec, observed));
    if (problems.length > 0) throw errors.interfaceMismatch(problems);
  }

  // --- STATUS and GC (CNI 1.1) ----------------------------------------------

  private status(): void {
    const chunks = this.opts.ipam.chunks;
    if (chunks.length === 0)
      throw errors.pluginNotAvailable('no pod IP chunks assigned to this node yet');
    const u = this.opts.ipam.usage();
    const full = [u.v4, u.v6].filter((f) => f.size > 0n && BigInt(f.used) >= f.size);
    if (full.length > 0)
      throw errors.pluginNotAvailable('the pod IP chunks of this node are used up');
  }

  private async gc(req: CniRequest): Promise<void> {
    const valid = req.config['cni.dev/valid-attachments'];
    if (valid === undefined) return; // Nothing said what is valid: removing everything would be wrong.
    const keep = new Set(valid.map((a) => `${a.containerID}/${a.ifname}`));
    const doomed = this.opts.ipam.list().filter((a) => !keep.has(`${a.containerId}/${a.ifName}`));
    for (const a of doomed) {
      await this.mutex.run(a.containerId, async () => {
        // Re-read under the lock: a DEL may have won the race.
        const current = this.opts.ipam.find(a.containerId, a.ifName);
        if (current) await this.teardown(current);
      });
    }
    if (doomed.length > 0)
      this.log.info({ released: doomed.length }, 'Collected stale pod attachments');
  }

  /**
   * Kubernetes-side garbage collection for the host agent: tears down every
   * attachment whose pod (`namespace/name`) is not in livePods. Returns how
   * many attachments were removed.
   */
  async collectDeadPods(livePods: ReadonlySet<string>): Promise<number> {
    const doomed = this.opts.ipam
      .list()
      .filter((a) => a.pod && !livePods.has(`${a.pod.namespace}/${a.pod.name}`));
    for (const a of doomed) {
      await this.mutex.run(a.containerId, async () => {
        const current = this.opts.ipam.find(a.containerId, a.ifName);
        if (current) await this.teardown(current);
      });
    }
    if (doomed.length > 0)
      this.log.info({ released: doomed.length }, 'Collected attachments of deleted pods');
    return doomed.length;
  }

  // --- reconcile --------------------------------------------------------------

  /**
   * Replays this node's persisted allocations at start: attachments whose
   * netns is gone are torn down; live ones get their endpoint file and OVS
   * port back if missing; endpoint files and host veths nobody owns are
   * removed. Run it before listen().
   */
  async reconcile(): Promise<ReconcileReport> {
    const dp = this.opts.dataplane;
    let kept = 0;
    let removed = 0;
    const owned = new Set<string>();
    const ownedPorts = new Set<string>();
    let failed = 0;
    this.unreconciled.clear();
    for (const a of this.opts.ipam.list()) {
      // Owned before anything can fail, so a pod we could not check keeps its files and port.
      owned.add(endpointUuid(a.pod?.uid, a.containerId, a.ifName));
      ownedPorts.add(hostVethName(a.containerId, a.ifName));
      try {
        await this.mutex.run(a.containerId, () => this.reconcileOne(a));
        if (this.opts.ipam.find(a.containerId, a.ifName)) kept++;
        else removed++;
      } catch (err) {
        // One broken attachment must not keep the agent from serving the others;
        // retryUnreconciled() tries it again (ovs-vswitchd may simply not run yet).
        failed++;
        this.unreconciled.add(a.containerId + '/' + a.ifName);
        this.log.error(
          { err, containerId: a.containerId, ifName: a.ifName },
          'Failed to reconcile pod attachment',
        );
      }
    }
    let strayEndpoints = 0;
    for (const uuid of await this.opts.endpoints.list()) {
      if (owned.has(uuid)) continue;
      await this.opts.endpoints.remove(uuid);
      strayEndpoints++;
    }
    let strayPorts = 0;
    try {
      for (const port of await dp.listPorts()) {
        if (!port.startsWith(HostVethPrefix) || ownedPorts.has(port)) continue;
        await this.removeDataplane(port);
        strayPorts++;
      }
    } catch (err) {
      failed++;
      this.log.error({ err }, 'Failed to remove stray ports from the bridge');
    }
    const report = { kept, removed, strayEndpoints, strayPorts, failed };
    this.log.info(report, 'Reconciled pod attachments');
    return report;
  }

  /**
   * Attachments the start-up reconcile could not restore (their port or
   * endpoint file), tried again; returns how many still fail, so the caller
   * retries with backoff until none do. Allocations released meanwhile drop out.
   */
  async retryUnreconciled(): Promise<number> {
    for (const key of [...this.unreconciled]) {
      const [containerId = '', ifName = ''] = key.split('/');
      await this.mutex.run(containerId, async () => {
        const a = this.opts.ipam.find(containerId, ifName);
        if (a) await this.reconcileOne(a);
      });
      this.unreconciled.delete(key);
      this.log.info({ containerId, ifName }, 'Reconciled pod attachment on retry');
    }
    return this.unreconciled.size;
  }

  private async reconcileOne(a: Allocation): Promise<void> {
    const dp = this.opts.dataplane;
    if (a.netns !== undefined && !(await dp.netnsExists(a.netns))) {
      await this.teardown(a);
      this.log.info(
        { containerId: a.containerId, ifName: a.ifName, ips: a.ips },
        'Removed attachment of a vanished netns',
      );
      return;
    }
    const plan = this.plan(a, a.netns ?? '', this.opts.mtu ?? DefaultMtu);
    if (!(await dp.hostInterfaceExists(plan.spec.hostIfName))) {
      // The pod's interface is gone but its netns lives: the runtime will DEL/ADD; keep the IP.
      this.log.warn(
        { containerId: a.containerId, hostIf: plan.spec.hostIfName },
        'Found pod without host interface',
      );
      return;
    }
    await dp.attachPort(plan.spec.hostIfName, {
      containerId: a.containerId,
      endpointUuid: plan.endpointUuid,
      mac: plan.spec.mac,
    });
    if (!(await this.opts.endpoints.read(plan.endpointUuid))) await this.writeEndpoint(plan, a);
  }
}

function versionOf(raw: unknown): string {
  if (typeof raw === 'object' && raw !== null && 'config' in raw) {
    const config = (raw as { config: unknown }).config;
    if (typeof config === 'object' && config !== null && 'cniVersion' in config) {
      const v = (config as { cniVersion: unknown }).cniVersion;
      if (typeof v === 'string' && v !== '') return v;
    }
  }
  return '1.0.0';
}

function podRefOf(args: Readonly<Record<string, string>>): PodRef | undefined {
  const namespace = args.K8S_POD_NAMESPACE;
  const name = args.K8S_POD_NAME;
  if (namespace === undefined || name === undefined) return undefined;
  const uid = args.K8S_POD_UID;
  return { namespace, name, ...(uid ? { uid } : {}) };
}

/** CHECK: the runtime's cached result must name the addresses we hold for the pod. */
function prevResultProblems(prevResult: unknown, allocation: Allocation): string[] {
  if (prevResult === undefined) return [];
  const parsed = CniResult.safeParse(stripLegacyVersion(prevResult));
  if (!parsed.success)
    return [`prevResult is not a CNI result: ${parsed.error.issues[0]?.message ?? ''}`];
  const addrs = new Set((parsed.data.ips ?? []).map((i) => i.address.split('/')[0]));
  return allocation.ips
    .filter((ip) => !addrs.has(ip))
    .map((ip) => `prevResult lacks allocated address ${ip}`);
}

/** 0.3.x/0.4.0 results carry `version` per IP; drop it so one schema reads both. */
function stripLegacyVersion(result: unknown): unknown {
  if (typeof result !== 'object' || result === null || !('ips' in result)) return result;
  const ips = (result as { ips: unknown }).ips;
  if (!Array.isArray(ips)) return result;
  return {
    ...result,
    ips: ips.map((i: unknown) => {
      if (typeof i !== 'object' || i === null) return i;
      const { version: _v, ...rest } = i as Record<string, unknown>;
      return rest;
    }),
  };
}

/** A forwarded plugin call, or undefined for anything else (a CniRequest, or garbage for handleText to answer). */
function decodeForward(text: string): PluginForward | undefined {
  if (!text.includes('"plugin"')) return undefined;
  try {
    const parsed = PluginForward.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
