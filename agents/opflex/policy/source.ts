/**
 * What the agent needs from its OpFlex client: the resolved managed objects
 * (the client's store), a signal when they change, and where to hand the
 * node's endpoints (the client declares them and resolves their EPGs). The agent renders whatever the store holds at each sync, so
 * a client that keeps its last policy while the leaf is away keeps the
 * node forwarding with it.
 */
import type { ManagedObject } from '../../../lib/opflex/mo.ts';
import type { EndpointFile } from '../files.ts';

export interface PolicySource {
  objects(): Iterable<ManagedObject>;
  /** `listener` runs after every change; the result unsubscribes. */
  onChange(listener: () => void): () => void;
  /**
   * The node's endpoints, whenever they change: the client declares them
   * and resolves their EPGs (and everything those reference).
   */
  localEndpoints?(endpoints: readonly EndpointFile[]): void;
}
