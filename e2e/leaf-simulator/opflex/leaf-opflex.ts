/**
 * The leaf simulator's OpFlex side in one call: an APIC client of the APIC
 * (simulator) feeding the OpFlex server. APIC changes are coalesced for a
 * few milliseconds, so a POST of a whole subtree (many websocket events)
 * becomes one remap and one policy_update per session.
 */
import type { Logger } from 'pino';
import type { OfTarget } from '../../../agents/openvswitch/ofctl.ts';
import { ApicSource } from './apic-source.ts';
import type { PlatformSettings } from './mapping.ts';
import { LeafPolicer } from './policer.ts';
import { OpflexServer } from './server.ts';

export interface OpflexLeafOptions {
  apic: { url: string; user: string; password: string; caPem?: string };
  host?: string;
  port?: number;
  tls?: { certPem: string; keyPem: string };
  advertise?: string;
  peers?: string[];
  platform: PlatformSettings;
  bridgeDomainEncaps?: Readonly<Record<string, number>>;
  maxMessageBytes?: number;
  /** How long APIC events are gathered before one remap (default 20 ms). */
  coalesceMs?: number;
  /** The leaf's switch: contracts between declared endpoints are enforced there (policer.ts). */
  police?: OfTarget;
  log: Logger;
}

export interface OpflexLeaf {
  readonly server: OpflexServer;
  readonly policer?: LeafPolicer;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startOpflexLeaf(opts: OpflexLeafOptions): Promise<OpflexLeaf> {
  const server = new OpflexServer({
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.advertise !== undefined ? { advertise: opts.advertise } : {}),
    ...(opts.peers ? { peers: opts.peers } : {}),
    ...(opts.bridgeDomainEncaps ? { bridgeDomainEncaps: opts.bridgeDomainEncaps } : {}),
    ...(opts.maxMessageBytes !== undefined ? { maxMessageBytes: opts.maxMessageBytes } : {}),
    platform: opts.platform,
    log: opts.log,
  });
  let timer: NodeJS.Timeout | undefined;
  const source: ApicSource = new ApicSource({
    hosts: [opts.apic.url],
    user: opts.apic.user,
    password: opts.apic.password,
    ...(opts.apic.caPem !== undefined ? { caPem: opts.apic.caPem } : {}),
    log: opts.log,
    onChange: () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        server.setApicObjects(source.snapshot());
      }, opts.coalesceMs ?? 20);
    },
  });
  const policer = opts.police
    ? new LeafPolicer({
        target: opts.police,
        policy: () => server.policy.values(),
        registry: () => server.registry.values(),
        log: opts.log.child({ component: 'leaf-policer' }),
      })
    : undefined;
  if (policer) server.onChange(() => policer.changed());
  await source.start();
  server.setApicObjects(source.snapshot());
  const port = await server.start();
  return {
    server,
    port,
    ...(policer ? { policer } : {}),
    async stop() {
      policer?.stop();
      clearTimeout(timer);
      await server.stop();
      await source.stop();
    },
  };
}
