/**
 * The AciFabric reconcile loop, level-based: a request is only a name; each
 * run reads the caches, decides, converges and reports:
 *
 *   1. get (gone → nothing to do)        5. validate spec, Secrets, allocations
 *   2. paused / duplicate → report only  6. render (pure)
 *   3. deleting → finalize               7. apply changed objects, prune the rest
 *   4. ensure the finalizer              8. report status from the rollouts
 *
 * Invalid input (step 5) stops before step 7, so nothing running changes:
 * a spec zod refuses, a referenced Secret missing or lacking keys (watched,
 * so a deletion is seen within seconds), a network change that IPAM's
 * allocations forbid (allocations.ts).
 * Errors return to the work queue, which retries with backoff.
 */
import type { Logger } from 'pino';
import { AciFabricSpec, type AciFabricStatus } from '../../crds/index.ts';
import { isNotFound, type KubeClient } from '../../lib/kube/client.ts';
import type { EventRecorder } from '../../lib/kube/events.ts';
import type { Informer } from '../../lib/kube/informer.ts';
import { keyOf, refOf, type KubeObject } from '../../lib/kube/types.ts';
import type { ReconcileResult } from '../../lib/kube/workqueue.ts';
import { contentHash } from '../render/common.ts';
import { renderFabric } from '../render/index.ts';
import { IpamLedgerName } from '../../lib/config/naming.ts';
import { Annotations, ConfigMapName, FieldManager, Finalizer, Labels } from '../render/names.ts';
import {
  allocationProblems,
  appliedNetwork,
  changesAllocatedFields,
  ledgerAllocations,
} from './allocations.ts';
import { credentialProblems, referencedConfigMaps, referencedSecrets } from './credentials.ts';
import { ReferenceWatchError, type ReferenceWatches } from './secrets.ts';
import { fabricStatus, Reasons, rolloutOf, type FabricStatusInput, type Reason } from './status.ts';

export const PausedAnnotation = 'aci.cni.dev/paused';

/**
 * The part of `value` that `shape` (what we apply) talks about: a change in
 * it is a change we made. Fields other managers or the API server own
 * (status, defaults we don't set) are ignored.
 */
export function projection(value: unknown, shape: unknown): unknown {
  if (Array.isArray(shape)) {
    return Array.isArray(value) ? shape.map((item, i) => projection(value[i], item)) : value;
  }
  if (shape && typeof shape === 'object') {
    if (!value || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(shape)) {
      if (key === 'resourceVersion' || key === 'managedFields') continue;
      out[key] = projection(
        (value as Record<string, unknown>)[key],
        (shape as Record<string, unknown>)[key],
      );
    }
    return out;
  }
  return value;
}

export interface FabricObject extends KubeObject {
  spec: unknown;
  status?: AciFabricStatus;
}

/** The kinds the operator renders, each with the informer that caches them (filtered by managed-by). */
export interface OwnedCaches {
  [kindKey: string]: Informer<KubeObject>;
}

export const ownedKinds = [
  ['v1', 'Namespace', 'cluster'],
  ['v1', 'ServiceAccount', 'namespaced'],
  ['v1', 'ConfigMap', 'namespaced'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRole', 'cluster'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'cluster'],
  ['rbac.authorization.k8s.io/v1', 'Role', 'namespaced'],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding', 'namespaced'],
  ['admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicy', 'cluster'],
  ['admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicyBinding', 'cluster'],
  ['apps/v1', 'Deployment', 'namespaced'],
  ['apps/v1', 'DaemonSet', 'namespaced'],
] as const;

export const kindKey = (apiVersion: string, kind: string) => `${apiVersion}/${kind}`;

export interface FabricReconcilerOptions {
  client: KubeClient;
  fabrics: Informer<FabricObject>;
  owned: OwnedCaches;
  /** The namespace the operator's Role covers (manager.ts); undefined: any (tests of the loop alone). */
  fabricNamespace?: string;
  events: EventRecorder;
  /** Watches of the referenced Secrets, whose changes wake this fabric (manager.ts). */
  secrets: ReferenceWatches;
  /** Watches of the ConfigMaps the spec references (the leaf CA). */
  configMaps: ReferenceWatches;
  log: Logger;
  now?: () => Date;
  /** How long deletion waits for the controller to remove its APIC objects. */
  cleanupTimeoutMs?: number;
  /** How often a Ready fabric is re-checked even without events (drift the watches missed). */
  resyncMs?: number;
  /** How often a change refused for IPAM allocations is judged again (nodes may have gone meanwhile). */
  allocationRecheckMs?: number;
}

interface Applied {
  hash: string;
  resourceVersion: string;
}

export class FabricReconciler {
  private readonly applied = new Map<string, Applied>();
  private readonly now: () => Date;

  constructor(private readonly options: FabricReconcilerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** The active fabric: the oldest one that is not paused (ties by name). */
  activeFabric(): string | undefined {
    return this.options.fabrics
      .list()
      .filter((f) => f.metadata.annotations?.[PausedAnnotation] !== 'true')
      .sort(
        (a, b) =>
          (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
          a.metadata.name.localeCompare(b.metadata.name),
      )[0]?.metadata.name;
  }

  async reconcile(name: string): Promise<ReconcileResult | void> {
    try {
      return await this.reconcileOnce(name);
    } catch (error) {
      // Deleted while we worked on it: the delete event ends the story.
      if (isNotFound(error) && !this.options.fabrics.get(name)) return;
      throw error;
    }
  }

  private async reconcileOnce(name: string): Promise<ReconcileResult | void> {
    const log = this.options.log.child({ acifabric: name });
    // 1. get
    const fabric = this.options.fabrics.get(name);
    if (!fabric) return;

    // 2. paused or duplicate: report, touch nothing else
    if (
      fabric.metadata.annotations?.[PausedAnnotation] === 'true' &&
      !fabric.metadata.deletionTimestamp
    ) {
      await this.writeStatus(fabric, {
        notReady: {
          reason: Reasons.Paused,
          message: `Reconciliation paused by ${PausedAnnotation}`,
        },
      });
      return;
    }
    const active = this.activeFabric();
    if (active !== name && !fabric.metadata.finalizers?.includes(Finalizer)) {
      await this.writeStatus(fabric, {
        notReady: {
          reason: Reasons.Duplicate,
          message: `AciFabric ${active} is already active; only one AciFabric per cluster is reconciled`,
        },
      });
      return;
    }

    // 3. deleting
    if (fabric.metadata.deletionTimestamp) return this.finalize(fabric, log);

    // 4. finalizer first, so nothing is created that deletion would not clean up
    if (!fabric.metadata.finalizers?.includes(Finalizer)) {
      await this.options.client.mergePatch(refOf(fabric), {
        metadata: {
          finalizers: [...(fabric.metadata.finalizers ?? []), Finalizer],
          resourceVersion: fabric.metadata.resourceVersion,
        },
      });
      return; // the update event brings us back with the finalizer in place
    }

    // 5. validate
    const parsed = AciFabricSpec.safeParse(fabric.spec);
    if (!parsed.success) {
      const message = parsed.error.issues
        .map((i) => `spec.${i.path.join('.')}: ${i.message}`)
        .join('; ');
      return this.degrade(fabric, Reasons.InvalidSpec, message, log);
    }
    const spec = parsed.data;
    const managed = this.options.fabricNamespace;
    if (managed !== undefined && spec.namespace !== managed)
      return this.degrade(
        fabric,
        Reasons.InvalidSpec,
        `spec.namespace: ${spec.namespace} is not the namespace this operator is installed to manage (${managed}); ` +
          'apply its Role there and start it with --fabric-namespace, or use that namespace',
        log,
      );
    const secretNames = referencedSecrets(spec);
    try {
      await this.options.secrets.use(name, spec.namespace, secretNames);
      await this.options.configMaps.use(name, spec.namespace, referencedConfigMaps(spec));
    } catch (error) {
      if (!(error instanceof ReferenceWatchError)) throw error;
      // Retried by the work queue with backoff; the watch keeps trying meanwhile.
      return this.degrade(fabric, Reasons.CredentialsInvalid, error.message, log, error);
    }
    const problems = credentialProblems(
      spec,
      (secret) => this.options.secrets.get(spec.namespace, secret),
      (configMap) => this.options.configMaps.get(spec.namespace, configMap),
    );
    // No timed re-check: the Secret watches wake this fabric when a Secret appears or changes.
    if (problems.length > 0)
      return this.degrade(fabric, Reasons.CredentialsInvalid, problems.join('; '), log);

    const refused = await this.allocationProblems(spec);
    if (refused.length > 0) {
      await this.degrade(fabric, Reasons.ConflictsWithAllocations, refused.join('; '), log);
      // Allocations change without an event here (the ledger is not watched): judge again later.
      return { requeueAfterMs: this.options.allocationRecheckMs ?? 30_000 };
    }

    // 6. render
    const rendered = renderFabric({ fabric: { name, uid: fabric.metadata.uid ?? '' }, spec });

    // 7. apply and prune
    try {
      for (const object of rendered.objects) await this.applyObject(fabric, object, log);
    } catch (error) {
      return this.degrade(
        fabric,
        Reasons.ApplyFailed,
        String(error instanceof Error ? error.message : error),
        log,
        error,
      );
    }
    try {
      await this.prune(fabric, rendered.objects, log);
    } catch (error) {
      return this.degrade(
        fabric,
        Reasons.PruneFailed,
        String(error instanceof Error ? error.message : error),
        log,
        error,
      );
    }

    // 8. status
    await this.writeStatus(fabric, {});
    return { requeueAfterMs: this.options.resyncMs ?? 5 * 60_000 };
  }

  /**
   * Refusals of network changes that IPAM's allocations forbid. The ledger
   * is read only when a guarded field differs from the applied
   * configuration, so a steady state costs no request.
   */
  private async allocationProblems(spec: AciFabricSpec): Promise<string[]> {
    const configMap = this.options.owned[kindKey('v1', 'ConfigMap')]?.get(
      keyOf({ namespace: spec.namespace, name: ConfigMapName }),
    );
    const applied = appliedNetwork(configMap);
    if (!changesAllocatedFields(spec.network, applied)) return [];
    const ledger = await this.options.client.read<KubeObject>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: spec.namespace,
      name: IpamLedgerName,
    });
    return allocationProblems(spec.network, applied, ledgerAllocations(ledger));
  }

  /** The fabric's workloads as the caches show them (found by label, so it also works while degraded). */
  private rollouts(fabricName: string): NonNullable<FabricStatusInput['rollouts']> {
    const find = (apiVersion: string, kind: string, component: string) =>
      this.options.owned[kindKey(apiVersion, kind)]
        ?.list()
        .find(
          (o) =>
            o.metadata.labels?.[Labels.fabric] === fabricName &&
            o.metadata.labels?.[Labels.component] === component,
        );
    return {
      controller: rolloutOf(find('apps/v1', 'Deployment', 'controller')),
      hostAgent: rolloutOf(find('apps/v1', 'DaemonSet', 'host-agent')),
      openvswitch: rolloutOf(find('apps/v1', 'DaemonSet', 'openvswitch')),
    };
  }

  private cached(object: KubeObject): KubeObject | undefined {
    return this.options.owned[kindKey(object.apiVersion, object.kind)]?.get(keyOf(object.metadata));
  }

  /**
   * Server-side apply, skipped when the object is exactly as our last apply
   * left it (same rendered hash, same resourceVersion): a steady state costs
   * no writes, while any edit by someone else changes the resourceVersion and
   * is repaired on the next pass.
   */
  private async applyObject(fabric: FabricObject, object: KubeObject, log: Logger): Promise<void> {
    const id = `${kindKey(object.apiVersion, object.kind)}/${keyOf(object.metadata)}`;
    const hash = contentHash(JSON.stringify(object));
    const current = this.cached(object);
    const last = this.applied.get(id);
    if (
      current &&
      last &&
      last.hash === hash &&
      last.resourceVersion === current.metadata.resourceVersion
    )
      return;
    const result = await this.options.client.apply(object, {
      fieldManager: FieldManager,
      force: true,
    });
    this.applied.set(id, { hash, resourceVersion: result.metadata.resourceVersion ?? '' });
    const what = `${object.kind} ${keyOf(object.metadata)}`;
    if (!current) {
      log.info({ object: what }, 'Created object');
      await this.options.events.record(fabric, 'Normal', 'Created', `Created ${what}`);
    } else if (
      JSON.stringify(projection(current, object)) !== JSON.stringify(projection(result, object))
    ) {
      log.info({ object: what }, 'Updated object');
      await this.options.events.record(fabric, 'Normal', 'Updated', `Updated ${what}`);
    }
  }

  /** Deletes what this fabric created earlier and no longer renders. The namespace is never deleted. */
  private async prune(fabric: FabricObject, rendered: KubeObject[], log: Logger): Promise<void> {
    const wanted = new Set(
      rendered.map((o) => `${kindKey(o.apiVersion, o.kind)}/${keyOf(o.metadata)}`),
    );
    for (const [apiVersion, kind] of ownedKinds) {
      if (kind === 'Namespace') continue;
      for (const object of this.options.owned[kindKey(apiVersion, kind)]?.list() ?? []) {
        if (object.metadata.labels?.[Labels.fabric] !== fabric.metadata.name) continue;
        if (wanted.has(`${kindKey(apiVersion, kind)}/${keyOf(object.metadata)}`)) continue;
        if (object.metadata.annotations?.[Annotations.retain] === 'true') continue;
        const what = `${kind} ${keyOf(object.metadata)}`;
        if (await this.options.client.delete({ ...refOf(object), apiVersion, kind })) {
          log.info({ object: what }, 'Deleted object no longer rendered');
          await this.options.events.record(fabric, 'Normal', 'Deleted', `Deleted ${what}`);
        }
      }
    }
  }

  private async finalize(fabric: FabricObject, log: Logger): Promise<ReconcileResult | void> {
    if (!fabric.metadata.finalizers?.includes(Finalizer)) return;
    await this.options.secrets.forget(fabric.metadata.name);
    await this.options.configMaps.forget(fabric.metadata.name);
    const deletingSince =
      Date.parse(fabric.metadata.deletionTimestamp ?? '') || this.now().getTime();
    const waited = this.now().getTime() - deletingSince;
    const controller = this.options.owned[kindKey('apps/v1', 'Deployment')]
      ?.list()
      .find(
        (d) =>
          d.metadata.labels?.[Labels.fabric] === fabric.metadata.name &&
          d.metadata.labels?.[Labels.component] === 'controller',
      );
    const controllerAvailable =
      ((controller?.status as { availableReplicas?: number } | undefined)?.availableReplicas ?? 0) >
      0;
    const cleanedUp = fabric.status?.apic?.cleanedUp === true;
    const timeout = this.options.cleanupTimeoutMs ?? 120_000;
    if (controllerAvailable && !cleanedUp && waited < timeout) {
      await this.writeStatus(fabric, {
        notReady: {
          reason: Reasons.Deleting,
          message: 'Waiting for aci-containers-controller to remove its APIC objects',
        },
      });
      return { requeueAfterMs: 2000 };
    }
    if (!cleanedUp && controllerAvailable) {
      log.warn({ waitedMs: waited }, 'Gave up waiting for APIC cleanup');
      await this.options.events.record(
        fabric,
        'Warning',
        'CleanupTimeout',
        `The controller did not confirm APIC cleanup within ${Math.round(timeout / 1000)}s; APIC objects may remain`,
      );
    }
    // Cluster-scoped objects have no owner to be collected with; namespaced ones go with the fabric.
    for (const [apiVersion, kind] of ownedKinds) {
      if (kind === 'Namespace') continue;
      for (const object of this.options.owned[kindKey(apiVersion, kind)]?.list() ?? []) {
        if (
          object.metadata.labels?.[Labels.fabric] !== fabric.metadata.name ||
          object.metadata.namespace
        )
          continue;
        await this.options.client.delete({ ...refOf(object), apiVersion, kind });
        await this.options.events.record(
          fabric,
          'Normal',
          'Deleted',
          `Deleted ${kind} ${object.metadata.name}`,
        );
      }
    }
    await this.options.client.mergePatch(refOf(fabric), {
      metadata: {
        finalizers: (fabric.metadata.finalizers ?? []).filter((f) => f !== Finalizer),
        resourceVersion: fabric.metadata.resourceVersion,
      },
    });
    log.info('Removed finalizer after cleanup');
  }

  private async degrade(
    fabric: FabricObject,
    reason: Reason,
    message: string,
    log: Logger,
    error?: unknown,
  ): Promise<void> {
    log.warn({ reason, err: error }, `Degraded: ${message}`);
    await this.options.events.record(fabric, 'Warning', reason, message);
    await this.writeStatus(fabric, { degraded: { reason, message } });
    if (error) throw error;
  }

  /** Applies the operator's part of status when it differs from what is there. */
  private async writeStatus(
    fabric: FabricObject,
    input: Omit<FabricStatusInput, 'generation' | 'previous' | 'now'>,
  ): Promise<void> {
    const duplicateOrPaused =
      input.notReady?.reason === Reasons.Duplicate || input.notReady?.reason === Reasons.Paused;
    const status = fabricStatus({
      ...(duplicateOrPaused ? {} : { rollouts: this.rollouts(fabric.metadata.name) }),
      ...input,
      generation: fabric.metadata.generation,
      previous: fabric.status?.conditions,
      now: this.now(),
    });
    const current = fabric.status;
    const ours = (current?.conditions ?? []).filter((c) =>
      ['Ready', 'Progressing', 'Degraded'].includes(c.type),
    );
    const unchanged =
      current?.observedGeneration === status.observedGeneration &&
      JSON.stringify(ours) === JSON.stringify(status.conditions) &&
      (status.components === undefined ||
        JSON.stringify(current?.components) === JSON.stringify(status.components));
    if (unchanged) return;
    await this.options.client.apply(
      {
        apiVersion: fabric.apiVersion,
        kind: fabric.kind,
        metadata: { name: fabric.metadata.name },
        status,
      },
      { fieldManager: FieldManager, subresource: 'status', force: true },
    );
  }
}
