/**
 * The controller's part of AciFabric status: `status.apic`, `status.ipam`
 * and the `ApicConnected` condition, by server-side apply on the status
 * subresource with field manager aci-controller, so the operator's fields
 * and conditions (a map list keyed by type) stay untouched. Writes are
 * coalesced (at most one per interval) and skipped when nothing changed.
 *
 * Deletion: once the AciFabric has a deletionTimestamp the controller stops
 * pushing, the sync engine removes every APIC object this cluster owns, and
 * then `status.apic.cleanedUp: true` tells the operator it may remove its
 * finalizer.
 */
import { apiVersion as aciApiVersion, type AciFabricStatus } from '../../../crds/index.ts';
import { setCondition, type Condition } from '../../../lib/kube/conditions.ts';
import type { ApicSyncStatus } from '../apic/sync.ts';
import { FieldManager, type ControllerContext } from '../context.ts';
import { kubeTime } from '../util.ts';

export const ApicConnectedCondition = 'ApicConnected';

export interface IpamTotals {
  podAddresses: bigint;
  podAddressesAssigned: bigint;
  nodes: number;
  loadBalancerIPsInUse: number;
}

export interface FabricStatusInput {
  apic: ApicSyncStatus;
  host: string;
  ipam: IpamTotals;
  cleanedUp: boolean;
  /** spec.aci.provision as applied. */
  provisioned?: 'Fabric' | 'Tenant' | 'None';
}

/** Conflicts listed in status (the schema caps the list). */
const maxConflictsShown = 32;

/** The status this controller owns (pure). */
export function fabricStatus(
  input: FabricStatusInput,
  previous: readonly Condition[] | undefined,
  generation: number | undefined,
  now: Date,
): AciFabricStatus {
  const { apic, ipam } = input;
  const condition = apic.connected
    ? {
        type: ApicConnectedCondition,
        status: 'True' as const,
        reason: 'Connected',
        message: `connected to ${input.host}`,
      }
    : {
        type: ApicConnectedCondition,
        status: 'False' as const,
        reason: apic.lastError ? 'ConnectionFailed' : 'Connecting',
        message: apic.lastError
          ? `APIC unreachable: ${apic.lastError}`.slice(0, 1000)
          : 'connecting to the APIC',
      };
  const conditions = setCondition(previous, condition, generation, now).filter(
    (c) => c.type === ApicConnectedCondition,
  );
  return {
    conditions,
    apic: {
      connected: apic.connected,
      host: input.host,
      ...(apic.lastFullSync ? { lastFullSync: kubeTime(apic.lastFullSync) } : {}),
      objectsOwned: apic.objectsOwned,
      ...(apic.lastError ? { lastError: apic.lastError.slice(0, 4000) } : {}),
      ...(input.cleanedUp ? { cleanedUp: true } : {}),
      ...(input.provisioned ? { provisioned: input.provisioned } : {}),
      ...(apic.conflicts.length > 0
        ? { conflicts: [...apic.conflicts].sort().slice(0, maxConflictsShown) }
        : {}),
    },
    ipam: {
      podAddresses: ipam.podAddresses.toString(),
      podAddressesAssigned: ipam.podAddressesAssigned.toString(),
      nodes: ipam.nodes,
      loadBalancerIPsInUse: ipam.loadBalancerIPsInUse,
    },
  };
}

export class FabricStatusWriter {
  private timer: NodeJS.Timeout | undefined;
  private last = '';
  private writing: Promise<void> | undefined;
  private dirty = false;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly gather: () => FabricStatusInput,
    private readonly intervalMs = 1000,
  ) {}

  /** Asks for a write soon (coalesced). */
  trigger(): void {
    if (this.timer || this.ctx.signal.aborted) {
      this.dirty = true;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writing = this.write()
        .catch((error: unknown) => {
          this.ctx.log.warn(
            { kind: 'AciFabric', err: String(error) },
            'Failed to write AciFabric status',
          );
          this.dirty = true;
        })
        .finally(() => {
          this.writing = undefined;
          if (this.dirty) {
            this.dirty = false;
            this.trigger();
          }
        });
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
  }

  private async write(): Promise<void> {
    const fabric = this.ctx.caches.fabric();
    if (!fabric) return;
    const input = this.gather();
    const fingerprint = JSON.stringify({
      ...input,
      ipam: {
        ...input.ipam,
        podAddresses: String(input.ipam.podAddresses),
        podAddressesAssigned: String(input.ipam.podAddressesAssigned),
      },
    });
    if (fingerprint === this.last) return;
    const status = fabricStatus(
      input,
      fabric.status?.conditions as Condition[] | undefined,
      fabric.metadata.generation,
      new Date(),
    );
    await this.ctx.client.apply(
      {
        apiVersion: aciApiVersion,
        kind: 'AciFabric',
        metadata: { name: fabric.metadata.name },
        status,
      },
      { fieldManager: FieldManager, subresource: 'status', force: true },
    );
    this.last = fingerprint;
  }
}
