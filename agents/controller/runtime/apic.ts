/**
 * The controller's side of the APIC sync engine (agents/controller/apic):
 * builds the client from config and the mounted credentials, skips
 * setDesired calls that change nothing (so a reconcile that finds nothing
 * new costs no APIC work), and tells callers when the desired state they set
 * has been written, so they can report it in status.
 */
import type { Logger } from 'pino';
import type { ControllerConfig } from '../../../lib/config/components.ts';
import { ApicClient } from '../apic/client.ts';
import { accProvisionAnnotation } from '../apic/diff.ts';
import type { Mo } from '../apic/mo.ts';
import { ApicSync, type ApicSyncStatus } from '../apic/sync.ts';
import type { ApicCredentials } from '../config.ts';

export interface ApicTuning {
  writesPerSecond?: number;
  retryBackoff?: { initialMs: number; maxMs: number };
  requestTimeoutMs?: number;
  maxRetries?: number;
}

export class ApicState {
  readonly client: ApicClient;
  readonly sync: ApicSync;
  private readonly fingerprints = new Map<string, string>();
  private generation = 0;
  private writtenGeneration = 0;
  private waiting = false;
  private readonly idleListeners = new Set<() => void>();
  private stopped = false;
  private frozen = false;

  constructor(
    config: ControllerConfig,
    credentials: ApicCredentials,
    caPem: string | undefined,
    log: Logger,
    onStatus: (status: ApicSyncStatus) => void,
    tuning: ApicTuning = {},
    writeGuard?: () => void,
  ) {
    this.client = new ApicClient({
      ...(writeGuard ? { writeGuard } : {}),
      hosts: config.apic.hosts,
      user: credentials.username,
      ...('password' in credentials ? { password: credentials.password } : {}),
      ...('privateKey' in credentials
        ? { privateKeyPem: credentials.privateKey, certName: config.apic.certificateName ?? '' }
        : {}),
      ...(caPem !== undefined ? { caPem } : {}),
      insecureSkipTlsVerify: config.apic.insecureSkipTLSVerify,
      logger: log,
      ...(tuning.requestTimeoutMs !== undefined ? { timeoutMs: tuning.requestTimeoutMs } : {}),
      ...(tuning.maxRetries !== undefined ? { maxRetries: tuning.maxRetries } : {}),
    });
    this.sync = new ApicSync({
      client: this.client,
      prefix: config.aci.objectPrefix,
      ...(config.aci.adoptExisting ? { adoptAnnotations: [accProvisionAnnotation] } : {}),
      logger: log,
      ...(tuning.writesPerSecond !== undefined ? { writesPerSecond: tuning.writesPerSecond } : {}),
      ...(tuning.retryBackoff !== undefined ? { retryBackoff: tuning.retryBackoff } : {}),
      onStatus: (status) => {
        onStatus(status);
      },
    });
  }

  /**
   * ApicSync.onResync waits up to 10 minutes for idleness with a ref'd timer,
   * which keeps a stopped controller's process (a test worker) alive. Long
   * waits are split into short ones that end when this state stops.
   */
  private boundWaits(): void {
    const original = this.sync.waitIdle.bind(this.sync);
    this.sync.waitIdle = async (timeoutMs = 30_000): Promise<void> => {
      if (timeoutMs <= 10_000) return original(timeoutMs);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (this.stopped) throw new Error('APIC sync stopped');
        try {
          return await original(Math.max(1, Math.min(2_000, deadline - Date.now())));
        } catch (error) {
          if (Date.now() >= deadline) throw error;
        }
      }
    };
  }

  start(): void {
    this.boundWaits();
    this.sync.start();
    this.watchIdle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.sync.stop();
    this.client.close();
  }

  /** Sets one owner key's desired objects unless they are what was set last time. Returns whether it changed. */
  setDesired(key: string, mos: readonly Mo[] | undefined): boolean {
    if (this.frozen && mos !== undefined) return false;
    const fingerprint = mos === undefined || mos.length === 0 ? '' : JSON.stringify(mos);
    if ((this.fingerprints.get(key) ?? '') === fingerprint) return false;
    if (fingerprint === '') this.fingerprints.delete(key);
    else this.fingerprints.set(key, fingerprint);
    this.sync.setDesired(key, mos);
    this.generation++;
    this.watchIdle();
    return true;
  }

  keys(): string[] {
    return [...this.fingerprints.keys()];
  }

  /** The desired objects of every key (the benchmark posts them directly as its baseline). */
  desired(): Map<string, Mo[]> {
    return new Map([...this.fingerprints].map(([key, text]) => [key, JSON.parse(text) as Mo[]]));
  }

  /**
   * AciFabric deletion: clears every key, ignores whatever is set later, and
   * runs a full resync so objects of keys this term never set go too.
   */
  freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    for (const key of this.keys()) this.setDesired(key, undefined);
    this.sync.resync();
    this.generation++;
    this.watchIdle();
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  private verification: 'none' | 'running' | 'done' = 'none';

  /**
   * Deletion is complete once a second full resync, begun after the first
   * one's writes were done, also finds nothing owned: a POST that was in
   * flight while the first pass read the tree could otherwise recreate an
   * object after the pass counted zero (seen under load in cleanup.e2e).
   */
  cleanedUp(onVerified?: () => void): boolean {
    if (!this.frozen || !this.written() || this.status().objectsOwned !== 0) return false;
    if (this.verification === 'done') return true;
    if (this.verification === 'running') {
      this.verification = 'done';
      return true;
    }
    this.verification = 'running';
    this.sync.resync();
    this.generation++;
    // Ask again once the verification pass is written.
    if (onVerified) this.onceWritten(onVerified);
    else this.watchIdle();
    return false;
  }

  status(): ApicSyncStatus {
    return this.sync.status();
  }

  /** True when everything set so far has been written (and the session is up). */
  written(): boolean {
    const status = this.sync.status();
    return (
      status.connected &&
      status.lastFullSync !== undefined &&
      status.pendingKeys === 0 &&
      this.writtenGeneration >= this.generation
    );
  }

  /** Calls back once after the next time the engine went idle. */
  onceWritten(listener: () => void): void {
    this.idleListeners.add(listener);
    this.watchIdle();
  }

  private watchIdle(): void {
    if (this.waiting || this.stopped) return;
    this.waiting = true;
    const target = this.generation;
    // Short waits in a loop rather than one long one: a pending timer would keep a stopped controller's process alive.
    this.sync
      .waitIdle(2_000)
      .then(
        () => {
          this.writtenGeneration = Math.max(this.writtenGeneration, target);
          return true;
        },
        () => false,
      )
      .then((idle) => {
        this.waiting = false;
        if (this.stopped) return;
        if (!idle || this.writtenGeneration < this.generation) {
          if (!idle && this.writtenGeneration >= this.generation && this.idleListeners.size === 0)
            return;
          this.watchIdle();
          return;
        }
        const listeners = [...this.idleListeners];
        this.idleListeners.clear();
        for (const listener of listeners) listener();
      });
  }
}
