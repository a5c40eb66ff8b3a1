/**
 * The leaf's view of the APIC: an APIC client of the simulator (or of any
 * APIC) that queries every class the mapping reads and subscribes to each,
 * so that a REST POST reaches the leaf as a websocket event. Keeps the
 * objects flat by DN and calls `onChange` (coalesced) after every change;
 * after a websocket reconnect the fresh query results replace what it had,
 * since events may have been lost meanwhile.
 */
import type { Logger } from 'pino';
import { ApicClient } from '../../../agents/controller/apic/client.ts';
import { moAttrs, moClass, type Mo } from '../../../agents/controller/apic/mo.ts';
import { ApicSubscriptions } from '../../../agents/controller/apic/subscriptions.ts';
import { type ApicObject, MappedApicClasses } from './mapping.ts';

export interface ApicSourceOptions {
  hosts: string[];
  user: string;
  password: string;
  caPem?: string;
  log: Logger;
  onChange: () => void;
}

export class ApicSource {
  private readonly objects = new Map<string, ApicObject>();
  private readonly client: ApicClient;
  private readonly subs: ApicSubscriptions;
  private readonly handles = new Map<object, string>();

  constructor(private readonly opts: ApicSourceOptions) {
    this.client = new ApicClient({
      hosts: opts.hosts,
      user: opts.user,
      password: opts.password,
      ...(opts.caPem !== undefined ? { caPem: opts.caPem } : {}),
      logger: opts.log,
    });
    this.subs = new ApicSubscriptions(this.client, { logger: opts.log });
    this.subs.on('resync', (results) => {
      for (const [handle, imdata] of results) {
        const cls = this.handles.get(handle);
        if (cls !== undefined) this.replaceClass(cls, imdata);
      }
      this.opts.onChange();
    });
  }

  /** Every object read so far. */
  snapshot(): ApicObject[] {
    return [...this.objects.values()];
  }

  async start(): Promise<void> {
    await this.client.login();
    await this.subs.start();
    // All at once: one round trip of waiting instead of one per class.
    await Promise.all(
      MappedApicClasses.map(async (cls) => {
        const { handle, imdata } = await this.subs.subscribe({ kind: 'class', target: cls }, (mo) =>
          this.onEvent(mo),
        );
        this.handles.set(handle, cls);
        this.replaceClass(cls, imdata);
      }),
    );
    this.opts.onChange();
  }

  async stop(): Promise<void> {
    await this.subs.stop();
    this.client.close();
  }

  private replaceClass(cls: string, imdata: Mo[]): void {
    for (const [dn, o] of this.objects) if (o.className === cls) this.objects.delete(dn);
    for (const mo of imdata) this.put(mo);
  }

  private put(mo: Mo): void {
    const attrs = moAttrs(mo) as Record<string, string>;
    if (!attrs.dn) return;
    this.objects.set(attrs.dn, { className: moClass(mo), dn: attrs.dn, attributes: { ...attrs } });
  }

  private onEvent(mo: Mo): void {
    const attrs = moAttrs(mo) as Record<string, string>;
    const dn = attrs.dn;
    if (!dn) return;
    if (attrs.status === 'deleted') {
      // The APIC sends one event for the deleted object; its subtree goes with it.
      for (const key of this.objects.keys())
        if (key === dn || key.startsWith(`${dn}/`)) this.objects.delete(key);
    } else {
      // A `modified` event carries only what changed.
      const before = this.objects.get(dn);
      this.objects.set(dn, {
        className: moClass(mo),
        dn,
        attributes: { ...(before?.attributes ?? {}), ...attrs },
      });
    }
    this.opts.onChange();
  }
}
