/**
 * Kubernetes Events (core/v1) on the objects the controller acts on, so
 * `kubectl describe` shows why a Service got no IP. Repeats of the same
 * reason and message on one object are folded into a count, as client-go's
 * recorder does; failures to record are logged, never fatal.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { KubeClient } from '../../../lib/kube/client.ts';
import type { KubeObject } from '../../../lib/kube/types.ts';

export type EventType = 'Normal' | 'Warning';

interface Recorded {
  count: number;
  first: string;
}

export class EventRecorder {
  private readonly seen = new Map<string, Recorded>();

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly log: Logger,
  ) {}

  record(object: KubeObject, type: EventType, reason: string, message: string): void {
    void this.write(object, type, reason, message).catch((error: unknown) =>
      this.log.warn(
        { kind: object.kind, name: object.metadata.name, reason, err: String(error) },
        'Failed to record Event',
      ),
    );
  }

  private async write(
    object: KubeObject,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    // Events about cluster-scoped objects (Nodes) live in `default`, as client-go's recorder puts them.
    const namespace = object.metadata.namespace ?? 'default';
    const key = `${object.metadata.uid ?? object.metadata.name}/${type}/${reason}/${message}`;
    const name = `${object.metadata.name}.${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
    const now = new Date().toISOString();
    const previous = this.seen.get(key);
    const recorded: Recorded = { count: (previous?.count ?? 0) + 1, first: previous?.first ?? now };
    this.seen.set(key, recorded);
    if (this.seen.size > 10_000) this.seen.delete(this.seen.keys().next().value as string);
    const event: KubeObject = {
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
      source: { component: this.component },
      reportingComponent: this.component,
      firstTimestamp: recorded.first,
      lastTimestamp: now,
      count: recorded.count,
    };
    await this.client.apply(event, { fieldManager: this.component, force: true });
  }
}
