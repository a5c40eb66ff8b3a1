/**
 * Test helper: an in-memory PodDataplane, for CNI server tests that need
 * neither root nor OVS. Failures are injected per operation.
 */
import type {
  ObservedPodInterface,
  PodDataplane,
  PodInterfaceSpec,
  PortIdentity,
} from '../../../agents/host/netconf/types.ts';

export class FakeDataplane implements PodDataplane {
  readonly interfaces = new Map<string, PodInterfaceSpec>();
  readonly ports = new Map<string, PortIdentity>();
  readonly netns = new Set<string>();
  /** Operation name → error to throw once. */
  readonly failNext = new Map<keyof PodDataplane, Error>();
  /** Called inside createInterface, to observe concurrency. */
  onCreate: (spec: PodInterfaceSpec) => Promise<void> = async () => undefined;

  private maybeFail(op: keyof PodDataplane): void {
    const err = this.failNext.get(op);
    if (err) {
      this.failNext.delete(op);
      throw err;
    }
  }

  async netnsExists(netns: string): Promise<boolean> {
    return this.netns.has(netns);
  }

  async createInterface(spec: PodInterfaceSpec): Promise<void> {
    this.maybeFail('createInterface');
    if (this.interfaces.has(spec.hostIfName)) throw new Error(`${spec.hostIfName} exists`);
    await this.onCreate(spec);
    this.interfaces.set(spec.hostIfName, spec);
  }

  async deleteInterface(hostIfName: string): Promise<void> {
    this.maybeFail('deleteInterface');
    this.interfaces.delete(hostIfName);
  }

  async hostInterfaceExists(hostIfName: string): Promise<boolean> {
    return this.interfaces.has(hostIfName);
  }

  async inspectInterface(netns: string, ifName: string): Promise<ObservedPodInterface> {
    const spec = [...this.interfaces.values()].find(
      (s) => s.netns === netns && s.ifName === ifName,
    );
    if (!spec) return { exists: false, addresses: [], routes: [] };
    return {
      exists: true,
      mac: spec.mac,
      mtu: spec.mtu,
      up: true,
      addresses: spec.addresses,
      routes: spec.routes,
    };
  }

  async attachPort(hostIfName: string, identity: PortIdentity): Promise<void> {
    this.maybeFail('attachPort');
    this.ports.set(hostIfName, identity);
  }

  async detachPort(hostIfName: string): Promise<void> {
    this.maybeFail('detachPort');
    this.ports.delete(hostIfName);
  }

  async listPorts(): Promise<readonly string[]> {
    return [...this.ports.keys()];
  }
}
