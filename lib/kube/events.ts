/**
 * Kubernetes Events (core/v1) with client-go's aggregation idea: the same
 * reason and message on the same object within the window bumps `count` on
 * one Event instead of creating many. Failures to record are logged, never
 * fatal: events are for people, not for correctness.
 */
import { randomBytes } from 'node:crypto';
import type { KubeClient } from './client.ts';
import type { KubeObject } from './types.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  component: string;
  instance?: string;
  /** Repeats within this window are folded into one Event. */
  windowMs?: number;
  onError?: (error: unknown) => void;
}

interface Recorded {
  name: string;
  namespace: string;
  count: number;
  at: number;
}

const timestamp = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

export class EventRecorder {
  private readonly recent = new Map<string, Recorded>();

  constructor(
    private readonly client: KubeClient,
    private readonly options: EventRecorderOptions,
  ) {}

  async record(
    object: KubeObject,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    // Cluster-scoped objects' events live in `default`, where kubectl describe looks for them.
    const namespace = object.metadata.namespace ?? 'default';
    const key = `${object.kind}/${namespace}/${object.metadata.name}/${object.metadata.uid}/${reason}/${message}`;
    const now = new Date();
    const windowMs = this.options.windowMs ?? 10 * 60_000;
    try {
      const previous = this.recent.get(key);
      if (previous && now.getTime() - previous.at < windowMs) {
        previous.count++;
        previous.at = now.getTime();
        await this.client.mergePatch(
          { apiVersion: 'v1', kind: 'Event', namespace: previous.namespace, name: previous.name },
          { count: previous.count, lastTimestamp: timestamp(now) },
        );
        return;
      }
      const name = `${object.metadata.name}.${randomBytes(8).toString('hex')}`;
      await this.client.create({
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
        count: 1,
        firstTimestamp: timestamp(now),
        lastTimestamp: timestamp(now),
        source: { component: this.options.component },
        reportingComponent: this.options.component,
        reportingInstance: this.options.instance ?? this.options.component,
      });
      this.recent.set(key, { name, namespace, count: 1, at: now.getTime() });
      if (this.recent.size > 1000) this.recent.delete(this.recent.keys().next().value as string);
    } catch (error) {
      this.recent.delete(key);
      this.options.onError?.(error);
    }
  }
}
