/**
 * Single-address allocator over a list of CIDRs (pure). Serves the node
 * service endpoints (nodeServiceSubnet) and LoadBalancer IPs (externDynamic,
 * externStatic). Subnet edges (lib/net hostRange) and a gateway written
 * into the CIDR (10.5.0.1/24) are never handed out. The address arithmetic
 * is lib/net's; what is here is who owns which address.
 */
import {
  containsAddress,
  formatIp,
  hostRange,
  parseCidr,
  parseIp,
  type Family,
  type Ip,
  type Prefix,
} from '../../../lib/net/cidr.ts';

interface Range {
  prefix: Prefix;
  first: bigint;
  last: bigint;
  gateway?: bigint;
  hint: bigint;
}

export interface Address extends Ip {
  readonly text: string;
}

export function addressOf(text: string): Address | undefined {
  const ip = parseIp(text);
  return ip
    ? { family: ip.family, value: ip.value, text: formatIp(ip.family, ip.value) }
    : undefined;
}

export class AddressAllocator {
  private readonly ranges: Range[];
  /** `family/value` → owner */
  private readonly owners = new Map<string, string>();
  private readonly byOwner = new Map<string, Address[]>();

  constructor(cidrs: readonly string[]) {
    this.ranges = cidrs.flatMap((text) => {
      const prefix = parseCidr(text);
      if (!prefix) return [];
      const { first, last } = hostRange(prefix);
      const gateway = prefix.address !== prefix.network ? prefix.address : undefined;
      return [{ prefix, first, last, ...(gateway !== undefined ? { gateway } : {}), hint: first }];
    });
  }

  /** True when the address lies in one of the CIDRs and may be handed out. */
  covers(address: Address): boolean {
    return this.ranges.some(
      (r) =>
        containsAddress(r.prefix, address) &&
        address.value >= r.first &&
        address.value <= r.last &&
        address.value !== r.gateway,
    );
  }

  families(): Family[] {
    return [...new Set(this.ranges.map((r) => r.prefix.family))].sort();
  }

  ownerOf(address: Address): string | undefined {
    return this.owners.get(`${address.family}/${address.value}`);
  }

  addressesOf(owner: string): readonly Address[] {
    return this.byOwner.get(owner) ?? [];
  }

  owned(): number {
    return this.owners.size;
  }

  /** Marks an address as owner's (rebuild, or an explicitly requested IP). False if someone else has it or it is not ours. */
  reserve(owner: string, address: Address): boolean {
    if (!this.covers(address)) return false;
    const key = `${address.family}/${address.value}`;
    const current = this.owners.get(key);
    if (current !== undefined) return current === owner;
    this.owners.set(key, owner);
    const list = this.byOwner.get(owner) ?? [];
    list.push(address);
    this.byOwner.set(owner, list);
    return true;
  }

  /** Lowest free address of the family; undefined when exhausted. */
  allocate(owner: string, family: Family): Address | undefined {
    for (const range of this.ranges) {
      if (range.prefix.family !== family) continue;
      let v = range.hint;
      while (v <= range.last && (v === range.gateway || this.owners.has(`${family}/${v}`))) v++;
      range.hint = v;
      if (v > range.last) continue;
      const address = { family, value: v, text: formatIp(family, v) };
      this.reserve(owner, address);
      range.hint = v + 1n;
      return address;
    }
    return undefined;
  }

  /** Releases one address (or all of the owner's). */
  release(owner: string, only?: Address): void {
    const list = this.byOwner.get(owner) ?? [];
    const keep: Address[] = [];
    for (const address of list) {
      if (only && (only.family !== address.family || only.value !== address.value)) {
        keep.push(address);
        continue;
      }
      this.owners.delete(`${address.family}/${address.value}`);
      for (const range of this.ranges) {
        if (containsAddress(range.prefix, address) && address.value < range.hint)
          range.hint = address.value;
      }
    }
    if (keep.length > 0) this.byOwner.set(owner, keep);
    else this.byOwner.delete(owner);
  }
}
