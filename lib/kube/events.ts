/**
 * Kubernetes Events (core/v1) on the objects a component acts on, so
 * `kubectl describe` shows what happened and why. The same reason and
 * message on one object keep one Event whose name is a hash of them, written
 * by server-side apply with a growing `count` — client-go's aggregation,
 * idempotent across retries. Recording never fails the caller: events are
 * for people, not for correctness.
 */
import { createHash } from 'node:crypto';
import type { KubeClient } from './client.ts';
import type { KubeObject } from './types.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  /** Field manager and `reportingComponent`. */
  component: string;
  onError?: (error: unknown, object: KubeObject, reason: string) => void;
}

interface Recorded {
  count: number;
  first: string;
}

const maxRemembered = 10_000;

export class EventRecorder {
  private readonly seen = new Map<string, Recorded>();

  constructor(
    private readonly client: KubeClient,
    private readonly options: EventRecorderOptions,
  ) {}

  /** Resolves once written (or failed and reported to onError); never rejects. */
  record(object: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    return this.write(object, type, reason, message).catch((error: unknown) =>
      this.options.onError?.(error, object, reason),
    );
  }

  private async write(
    object: KubeObject,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    // Events about cluster-scoped objects live in `default`, where kubectl describe looks for them.
    const namespace = object.metadata.namespace ?? 'default';
    const key = `${object.kind}/${object.metadata.uid ?? object.metadata.name}/${type}/${reason}/${message}`;
    const name = `${object.metadata.name}.${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const previous = this.seen.get(key);
    const recorded: Recorded = { count: (previous?.count ?? 0) + 1, first: previous?.first ?? now };
    this.seen.set(key, recorded);
    if (this.seen.size > maxRemembered) this.seen.delete(this.seen.keys().next().value as string);
    await this.client.apply(
      {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: object.apiVersion,
          kind: object.kind,
          name: object.metadata.name,
          ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
          ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: this.options.component },
        reportingComponent: this.options.component,
        firstTimestamp: recorded.first,
        lastTimestamp: now,
        count: recorded.count,
      },
      { fieldManager: this.options.component, force: true },
    );
  }
}
