/**
 * Pods of the web tenant's EPGs (apic-tenant.ts) on the two-node kit: a1 (A)
 * and c1 (C) on n1, a2 (A) and b2 (B) on n2, each with a probe agent
 * listening on TCP 80 and 8080, their endpoint files naming their EPGs; and
 * the TCP probe from one to another.
 */
import path from 'node:path';
import { type Cleanup, PodAgent, inNetns } from './netns.ts';
import type { TestPod } from './node.ts';
import type { TwoNodes } from './two-nodes.ts';

export type EpgPodName = 'a1' | 'c1' | 'a2' | 'b2';

export const EpgPlacement: Readonly<
  Record<EpgPodName, { node: 0 | 1; host: number; epg: 'A' | 'B' | 'C' }>
> = {
  a1: { node: 0, host: 1, epg: 'A' },
  c1: { node: 0, host: 2, epg: 'C' },
  a2: { node: 1, host: 1, epg: 'A' },
  b2: { node: 1, host: 2, epg: 'B' },
};

export interface EpgPods {
  readonly pods: Readonly<Record<EpgPodName, { pod: TestPod; agent: PodAgent }>>;
  /** Whether a TCP connection from `from` to `to`:`port` opens within `timeoutMs`. */
  reach(from: EpgPodName, to: EpgPodName, port: number, timeoutMs?: number): Promise<boolean>;
}

export async function startEpgPods(
  env: TwoNodes,
  opts: {
    tag: string;
    dir: string;
    cleanup: Cleanup;
    /**
     * VXLAN on the userspace datapath: the pods fill in their own TCP
     * checksums, whose offload a tunnel loses (docs/dataplane.md, Limits).
     */
    checksumOffloadOff?: boolean;
  },
): Promise<EpgPods> {
  const pods = {} as Record<EpgPodName, { pod: TestPod; agent: PodAgent }>;
  for (const [name, at] of Object.entries(EpgPlacement) as [
    EpgPodName,
    (typeof EpgPlacement)[EpgPodName],
  ][]) {
    const pod = await env.addPod(at.node, `${opts.tag}${name}`, at.host);
    if (opts.checksumOffloadOff) await inNetns(pod.netns, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
    pod.endpointGroup = { tenant: 'kube', appProfile: 'kubernetes', name: at.epg };
    await env.nodes[at.node].writeEndpoint(pod);
    const agent = await PodAgent.start(
      pod.netns,
      path.join(opts.dir, `${name}.sock`),
      pod.ip,
      [80, 8080],
      [],
    );
    opts.cleanup.add(() => agent.stop());
    pods[name] = { pod, agent };
  }
  return {
    pods,
    async reach(from, to, port, timeoutMs = 1500) {
      const [ok = false] = await pods[from].agent.probe(
        [{ ip: pods[to].pod.ip, port, proto: 'tcp' }],
        timeoutMs,
      );
      return ok;
    },
  };
}
