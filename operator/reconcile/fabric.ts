/**
 * The AciFabric reconcile loop, level-based: a request is only a name; each
 * run reads the caches, decides, converges and reports:
 *
 *   1. get (gone → nothing to do)        5. validate spec, check Secrets
 *   2. paused / duplicate → report only  6. render (pure)
 *   3. deleting → finalize               7. apply changed objects, prune the rest
 *   4. ensure the finalizer              8. report status from the rollouts
 *
 * Invalid input (step 5) stops before step 7, so nothing running changes.
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
import { Annotations, FieldManager, Finalizer, Labels } from '../render/names.ts';
import { credentialProblems, type SecretLike } from './credentials.ts';
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
  ['v1', 'Namespace'],
  ['v1', 'ServiceAccount'],
  ['v1', 'ConfigMap'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRole'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'],
  ['rbac.authorization.k8s.io/v1', 'Role'],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
  ['admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicy'],
  ['admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicyBinding'],
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'DaemonSet'],
] as const;

export const kindKey = (apiVersion: string, kind: string) => `${apiVersion}/${kind}`;

export interface FabricReconcilerOptions {
  client: KubeClient;
  fabrics: Informer<FabricObject>;
  owned: OwnedCaches;
  events: EventRecorder;
  log: Logger;
  now?: () => Date;
  /** How long deletion waits for the controller to remove its APIC objects. */
  cleanupTimeoutMs?: number;
  /** How often a Ready fabric is re-checked even without events (drift the watches missed). */
  resyncMs?: number;
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
    const [credentials, caBundle] = await Promise.all([
      this.options.client.read<SecretLike>({
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: spec.namespace,
        name: spec.apic.credentials.secretRef.name,
      }),
      spec.apic.caBundleSecretRef
        ? this.options.client.read<SecretLike>({
            apiVersion: 'v1',
            kind: 'Secret',
            namespace: spec.namespace,
            name: spec.apic.caBundleSecretRef.name,
          })
        : Promise.resolve(undefined),
    ]);
    const problems = credentialProblems(spec, credentials, caBundle);
    if (problems.length > 0) {
      await this.degrade(fabric, Reasons.CredentialsInvalid, problems.join('; '), log);
      // Secrets are not watched (the operator may only `get` them): look again soon.
      return { requeueAfterMs: 10_000 };
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
