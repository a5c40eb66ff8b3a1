/**
 * What the kubelet's probes ask the opflex agent and the mcast daemon.
 *
 * Ready: the host agent's config file was read and applied, and this
 * component's canary flow is on the bridge of the running ovs-vswitchd. The
 * canary is installed by the first successful sync and vanishes when
 * ovs-vswitchd restarts (its flows are gone until the agent re-renders), so
 * "present" means the data plane holds what this component last rendered;
 * an unreachable ovs-vswitchd or a sync that keeps failing reads not ready.
 *
 * Live: the process answers. Every OVS call has a timeout (ofctl.ts), so no
 * sync can hang the loop, and none of the not-ready causes is one a restart
 * of this container would cure: they stay readiness, not liveness.
 */
import type { ProbeChecks } from '../../lib/health/probes.ts';
import { type OfTarget, dumpCookies } from '../openvswitch/ofctl.ts';

const AllBits = (1n << 64n) - 1n;

export interface ProbedComponent {
  /** The config file the component waits for. */
  readonly file: string;
  /** The bridge the running instance programs; undefined until a config was applied. */
  readonly running: () => OfTarget | undefined;
  /** Cookie of the component's canary flow (flowCookie(owner, canary)). */
  readonly canaryCookie: bigint;
  /** Bound on the one ovs-ofctl call (default 3 s, under the probe's 5 s timeout). */
  readonly timeoutMs?: number;
}

export function nodeAgentProbes(c: ProbedComponent): ProbeChecks {
  return {
    live: {},
    ready: {
      config: () => (c.running() ? undefined : `waiting for ${c.file} (the host agent writes it)`),
      flows: async () => {
        const target = c.running();
        if (!target) return 'not started';
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer in ${c.timeoutMs ?? 3000} ms`)),
            c.timeoutMs ?? 3000,
          );
        });
        try {
          const present = await Promise.race([
            dumpCookies(target, c.canaryCookie, AllBits),
            timeout,
          ]);
          return present.length > 0
            ? undefined
            : `flows not installed on ${target.bridge} yet (first sync, or ovs-vswitchd restarted)`;
        } catch (err) {
          return `ovs-vswitchd of ${target.bridge} unreachable: ${String(err).slice(0, 200)}`;
        } finally {
          clearTimeout(timer);
        }
      },
    },
  };
}
