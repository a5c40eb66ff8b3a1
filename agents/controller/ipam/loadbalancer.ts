/**
 * LoadBalancer IP assignment (pure). A Service gets one address per IP
 * family it asks for: from externDynamic, or — when it requests addresses
 * (spec.loadBalancerIP or the aci.cni.dev/load-balancer-ips annotation) —
 * exactly those, provided every one lies in externStatic and is free.
 * Otherwise it is refused and holds nothing, so a typo cannot silently keep
 * an old address or take a random one.
 */
import type { Family } from '../../../lib/net/cidr.ts';
import { AddressAllocator, addressOf, type Address } from './addresses.ts';

export const RefusalReasons = {
  notInExternStatic: 'RequestedIPNotInExternStatic',
  invalid: 'RequestedIPInvalid',
  inUse: 'RequestedIPInUse',
  exhausted: 'PoolExhausted',
  noPool: 'NoPoolForFamily',
} as const;
export type RefusalReason = (typeof RefusalReasons)[keyof typeof RefusalReasons];

export type LoadBalancerDecision =
  | { kind: 'allocated'; ips: string[] }
  | { kind: 'refused'; reason: RefusalReason; message: string };

export interface LoadBalancerRequest {
  /** IP families of the Service in its order (spec.ipFamilies, default IPv4). */
  families: readonly Family[];
  /** Explicitly requested addresses (may be empty). */
  requested: readonly string[];
}

export class LoadBalancerIpam {
  private readonly dynamic: AddressAllocator;
  private readonly fixed: AddressAllocator;

  constructor(externDynamic: readonly string[], externStatic: readonly string[]) {
    this.dynamic = new AddressAllocator(externDynamic);
    this.fixed = new AddressAllocator(externStatic);
  }

  /** Addresses the owner holds, in either pool. */
  addressesOf(owner: string): Address[] {
    return [...this.dynamic.addressesOf(owner), ...this.fixed.addressesOf(owner)];
  }

  inUse(): number {
    return this.dynamic.owned() + this.fixed.owned();
  }

  /** Rebuild: records an address found in a Service's status. False when it is not ours to give or already taken. */
  adopt(owner: string, ip: string): boolean {
    const address = addressOf(ip);
    if (!address) return false;
    if (this.dynamic.covers(address)) return this.dynamic.reserve(owner, address);
    if (this.fixed.covers(address)) return this.fixed.reserve(owner, address);
    return false;
  }

  release(owner: string): void {
    this.dynamic.release(owner);
    this.fixed.release(owner);
  }

  decide(owner: string, request: LoadBalancerRequest): LoadBalancerDecision {
    return request.requested.length > 0
      ? this.decideRequested(owner, request.requested)
      : this.decideDynamic(owner, request.families);
  }

  private decideRequested(owner: string, requested: readonly string[]): LoadBalancerDecision {
    const wanted: Address[] = [];
    for (const text of requested) {
      const address = addressOf(text.trim());
      if (!address) {
        this.release(owner);
        return {
          kind: 'refused',
          reason: RefusalReasons.invalid,
          message: `requested load balancer IP ${text} is not an IP address`,
        };
      }
      if (!this.fixed.covers(address)) {
        this.release(owner);
        return {
          kind: 'refused',
          reason: RefusalReasons.notInExternStatic,
          message: `requested load balancer IP ${address.text} is not in externStatic`,
        };
      }
      const holder = this.fixed.ownerOf(address);
      if (holder !== undefined && holder !== owner) {
        this.release(owner);
        return {
          kind: 'refused',
          reason: RefusalReasons.inUse,
          message: `requested load balancer IP ${address.text} is in use by ${holder}`,
        };
      }
      wanted.push(address);
    }
    const wantedKeys = new Set(wanted.map((a) => `${a.family}/${a.value}`));
    // Drop whatever the owner held that it no longer asks for (a dynamic address, an old request).
    this.dynamic.release(owner);
    for (const held of this.fixed.addressesOf(owner)) {
      if (!wantedKeys.has(`${held.family}/${held.value}`)) this.fixed.release(owner, held);
    }
    for (const address of wanted) this.fixed.reserve(owner, address);
    return { kind: 'allocated', ips: wanted.map((a) => a.text) };
  }

  private decideDynamic(owner: string, families: readonly Family[]): LoadBalancerDecision {
    // A previously requested address goes back once the request is gone.
    this.fixed.release(owner);
    for (const held of this.dynamic.addressesOf(owner)) {
      if (!families.includes(held.family)) this.dynamic.release(owner, held);
    }
    const ips: string[] = [];
    for (const family of families) {
      const held = this.dynamic.addressesOf(owner).find((a) => a.family === family);
      if (held) {
        ips.push(held.text);
        continue;
      }
      if (!this.dynamic.families().includes(family)) {
        this.release(owner);
        return {
          kind: 'refused',
          reason: RefusalReasons.noPool,
          message: `externDynamic has no IPv${family} subnet`,
        };
      }
      const address = this.dynamic.allocate(owner, family);
      if (!address) {
        this.release(owner);
        return {
          kind: 'refused',
          reason: RefusalReasons.exhausted,
          message: `externDynamic has no free IPv${family} address`,
        };
      }
      ips.push(address.text);
    }
    return { kind: 'allocated', ips };
  }
}
