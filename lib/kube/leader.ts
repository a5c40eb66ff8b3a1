/**
 * Lease-based leader election (coordination.k8s.io/v1), the protocol of
 * client-go's leaderelection: acquire a Lease whose holder has not renewed
 * within leaseDurationSeconds, renew it every retryPeriod, and step down
 * (abort the leader's work) if renewal fails for longer than renewDeadline.
 * Writes use the Lease's resourceVersion, so two candidates never both win.
 * On graceful release the Lease is emptied and a standby takes over at once.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { sleep } from './backoff.ts';
import { isAlreadyExists, isConflict, isNotFound, type KubeClient } from './client.ts';
import type { KubeObject } from './types.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

const microTime = (date: Date) => date.toISOString().replace('Z', '000Z');

export class LeaderElector {
  readonly identity: string;
  private readonly stopController = new AbortController();
  private leading = false;
  private observedHolder = '';
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly options: LeaderElectionOptions,
  ) {
    this.identity = options.identity ?? `${os.hostname()}_${randomUUID()}`;
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): this {
    this.loop ??= this.run();
    return this;
  }

  /** Stops campaigning; a leader releases the Lease so a standby takes over immediately. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.loop;
  }

  private get leaseDurationMs(): number {
    return (this.options.leaseDurationSeconds ?? 15) * 1000;
  }

  private async run(): Promise<void> {
    const retry = this.options.retryPeriodMs ?? 2000;
    const renewDeadline = this.options.renewDeadlineMs ?? 10_000;
    const stop = this.stopController.signal;
    while (!stop.aborted) {
      // Campaign.
      while (!stop.aborted && !(await this.tryAcquireOrRenew())) await sleep(retry, stop);
      if (stop.aborted) break;
      this.leading = true;
      this.options.log?.('Acquired leadership', {
        lease: this.options.name,
        identity: this.identity,
      });
      const work = new AbortController();
      const leaderWork = Promise.resolve(this.options.onStartedLeading(work.signal)).catch(
        (error: unknown) => this.options.log?.('Leader work failed', { error: String(error) }),
      );
      // Renew until it fails for longer than renewDeadline or we are stopped.
      let lastRenew = Date.now();
      while (!stop.aborted) {
        await sleep(retry, stop);
        if (stop.aborted) break;
        if (await this.tryAcquireOrRenew()) lastRenew = Date.now();
        else if (Date.now() - lastRenew > renewDeadline) break;
      }
      this.leading = false;
      work.abort();
      await leaderWork;
      if (stop.aborted) await this.release();
      this.options.log?.('Lost leadership', { lease: this.options.name, identity: this.identity });
      this.options.onStoppedLeading?.();
    }
  }

  private leaseRef() {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: this.options.namespace,
      name: this.options.name,
    };
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    try {
      const lease = await this.client.read<Lease>(this.leaseRef());
      if (!lease) {
        await this.client.create<Lease>({
          ...this.leaseRef(),
          metadata: { name: this.options.name, namespace: this.options.namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: this.leaseDurationMs / 1000,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        return true;
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      if (holder !== this.observedHolder) {
        this.observedHolder = holder;
        if (holder) this.options.onNewLeader?.(holder);
      }
      const renewed = spec.renewTime ? Date.parse(spec.renewTime) : 0;
      const duration = (spec.leaseDurationSeconds ?? this.leaseDurationMs / 1000) * 1000;
      const held = holder !== '' && holder !== this.identity && renewed + duration > now.getTime();
      if (held) return false;
      const takingOver = holder !== this.identity;
      await this.client.replace<Lease>({
        ...lease,
        spec: {
          ...spec,
          holderIdentity: this.identity,
          leaseDurationSeconds: this.leaseDurationMs / 1000,
          renewTime: microTime(now),
          ...(takingOver
            ? {
                acquireTime: microTime(now),
                leaseTransitions: (spec.leaseTransitions ?? 0) + (holder ? 1 : 0),
              }
            : {}),
        },
      });
      return true;
    } catch (error) {
      if (isConflict(error) || isAlreadyExists(error) || isNotFound(error)) return false;
      this.options.log?.('Failed to renew lease', { error: String(error) });
      return false;
    }
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.client.read<Lease>(this.leaseRef());
      if (lease?.spec?.holderIdentity !== this.identity) return;
      await this.client.replace<Lease>({
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: null,
          acquireTime: null,
          renewTime: null,
          leaseDurationSeconds: 1,
        },
      });
    } catch (error) {
      this.options.log?.('Failed to release lease', { error: String(error) });
    }
  }
}
