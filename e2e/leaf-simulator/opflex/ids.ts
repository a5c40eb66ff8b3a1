/**
 * Stable encap and class ids for the leaf simulator's policy: each key (an
 * APIC DN with its kind) gets a slot by hash and keeps it for the life of
 * the process, probing past collisions. The mapping asks in sorted DN
 * order, so a restarted simulator reading the same tree hands out the same
 * ids, as a real fabric keeps its pcTags and VNIDs.
 */
import { fnv1a } from '../../../agents/opflex/model.ts';
import { ClassIdRange, VnidRange } from './mapping.ts';

class Slots {
  private readonly byKey = new Map<string, number>();
  private readonly used = new Set<number>();

  constructor(
    private readonly base: number,
    private readonly size: number,
  ) {}

  get(key: string): number {
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    if (this.used.size >= this.size) throw new Error(`id range of ${this.size} exhausted`);
    let slot = fnv1a(key) % this.size;
    while (this.used.has(slot)) slot = (slot + 1) % this.size;
    this.used.add(slot);
    this.byKey.set(key, this.base + slot);
    return this.base + slot;
  }
}

export class IdAllocator {
  private readonly classIds = new Slots(ClassIdRange.base, ClassIdRange.size);
  private readonly vnids = new Slots(VnidRange.base, VnidRange.size);

  /** The class id (pcTag) of an EPG, BD or VRF. */
  classId(key: string): number {
    return this.classIds.get(key);
  }

  /** The encap id (VNID) of an EPG, BD or VRF. */
  vnid(key: string): number {
    return this.vnids.get(key);
  }
}
