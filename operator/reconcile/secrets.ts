/**
 * Watches of the Secrets (and ConfigMaps) the active AciFabric references,
 * one informer per name with a `metadata.name` field selector: deleting or
 * changing the credentials Secret, or the leaf CA's ConfigMap, wakes the
 * reconcile within seconds (Degraded), and recreating it makes the fabric
 * Ready again, without re-reading them on a timer. The field selector keeps
 * every other object of the namespace out of the operator's memory, and lets
 * an administrator who fixes the names narrow the Role to them (list/watch
 * with a `metadata.name` field selector are authorized against
 * `resourceNames`; docs/operator.md).
 *
 * The names come from the spec, so the set of watches follows it: `use`
 * starts what is newly referenced and stops what no fabric references any
 * more. Secret values stay in the cache and are never logged.
 */
import type { KubeClient } from '../../lib/kube/client.ts';
import { Informer } from '../../lib/kube/informer.ts';
import type { SecretLike } from './credentials.ts';

/** The kinds a fabric references by name in its own namespace. */
export type ReferencedKind = 'Secret' | 'ConfigMap';

export interface ReferenceWatchOptions {
  client: KubeClient;
  kind: ReferencedKind;
  /** Called on every change of a watched object, with its name. */
  onChange: (namespace: string, name: string) => void;
  onError?: (namespace: string, name: string, error: unknown, attempt: number) => void;
  /** How long `use` waits for a new watch's first list before giving up (RBAC, API server down). */
  syncTimeoutMs?: number;
}

interface Watch {
  informer: Informer<SecretLike>;
  users: Set<string>;
  lastError?: unknown;
}

/** Thrown by `use` when a watch did not list in time; names the object and the last error. */
export class ReferenceWatchError extends Error {
  constructor(
    readonly kind: ReferencedKind,
    readonly namespace: string,
    readonly object: string,
    cause: unknown,
  ) {
    super(
      `cannot watch ${kind} ${namespace}/${object}${cause ? `: ${cause instanceof Error ? cause.message : String(cause)}` : ' (no answer yet)'}; ` +
        `the operator's Role in ${namespace} needs get, list and watch on ${kind.toLowerCase()}s`,
    );
    this.name = 'ReferenceWatchError';
  }
}

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

export class ReferenceWatches {
  private readonly watches = new Map<string, Watch>();
  private stopped = false;

  constructor(private readonly options: ReferenceWatchOptions) {}

  /**
   * Makes `user` (a fabric) watch exactly these objects and resolves once
   * each watch has listed; stops the watches nobody uses any more.
   * ReferenceWatchError when a watch cannot list within the sync timeout.
   */
  async use(user: string, namespace: string, names: readonly string[]): Promise<void> {
    if (this.stopped) throw new Error(`${this.options.kind} watches are stopped`);
    const wanted = new Set(names.map((n) => keyOf(namespace, n)));
    for (const name of names) {
      const key = keyOf(namespace, name);
      let watch = this.watches.get(key);
      if (!watch) {
        watch = this.start(namespace, name);
        this.watches.set(key, watch);
      }
      watch.users.add(user);
    }
    await this.release(user, wanted);
    await Promise.all(names.map((name) => this.synced(namespace, name)));
  }

  /** The object as the watch last saw it; undefined when it does not exist. Call after `use`. */
  get(namespace: string, name: string): SecretLike | undefined {
    return this.watches.get(keyOf(namespace, name))?.informer.get(keyOf(namespace, name));
  }

  /** The fabric is gone: its watches stop unless another fabric uses them. */
  forget(user: string): Promise<void> {
    return this.release(user, new Set());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(all.map((w) => w.informer.stop()));
  }

  private start(namespace: string, name: string): Watch {
    const informer = new Informer<SecretLike>(this.options.client, 'v1', this.options.kind, {
      namespace,
      fieldSelector: `metadata.name=${name}`,
      onError: (error, attempt) => {
        watch.lastError = error;
        this.options.onError?.(namespace, name, error, attempt);
      },
    });
    const watch: Watch = { informer, users: new Set() };
    informer.on(() => this.options.onChange(namespace, name));
    informer.start();
    return watch;
  }

  private async release(user: string, keep: Set<string>): Promise<void> {
    const stopping: Promise<void>[] = [];
    for (const [key, watch] of this.watches) {
      if (keep.has(key)) continue;
      watch.users.delete(user);
      if (watch.users.size > 0) continue;
      this.watches.delete(key);
      stopping.push(watch.informer.stop());
    }
    await Promise.all(stopping);
  }

  private async synced(namespace: string, name: string): Promise<void> {
    const watch = this.watches.get(keyOf(namespace, name));
    if (!watch) return;
    if (watch.informer.hasSynced()) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.syncTimeoutMs ?? 10_000);
    });
    try {
      const result = await Promise.race([watch.informer.waitForSync(), timeout]);
      if (result === 'timeout')
        throw new ReferenceWatchError(this.options.kind, namespace, name, watch.lastError);
    } finally {
      clearTimeout(timer);
    }
  }
}
