/**
 * Endpoint files for the opflex agent: one `<uuid>.ep` per pod interface in
 * the endpoints directory, in the shape of agents/opflex/files.ts, written
 * by atomic rename so the opflex agent never reads half a file.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EndpointFile, EndpointFileSuffix } from '../../opflex/files.ts';
import type { EndpointGroupRef } from '../../opflex/files.ts';
import type { z } from 'zod';
import { removeFileDurably, writeFileAtomic } from '../ipam/atomicfile.ts';

export type EndpointGroup = z.infer<typeof EndpointGroupRef>;

/** The pod as the policy function sees it. */
export interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Where a pod belongs in ACI: computed by someone else's pure function, injected here. */
export interface EndpointPolicy {
  readonly endpointGroup: EndpointGroup;
  readonly securityGroups: readonly string[];
  readonly bridgeDomain: string;
}

export type EndpointPolicyFn = (pod: PodIdentity) => EndpointPolicy | Promise<EndpointPolicy>;

/**
 * The original's defaults for a cluster named `systemId`: every pod in the
 * `aci-containers-default` EPG of the `aci-containers-<systemId>` application
 * profile, in the `aci-containers-<systemId>-pod-bd` bridge domain, no
 * security group.
 */
export function defaultEndpointPolicy(systemId = 'kube', tenant = systemId): EndpointPolicyFn {
  const policy: EndpointPolicy = {
    endpointGroup: {
      tenant,
      appProfile: `aci-containers-${systemId}`,
      name: 'aci-containers-default',
    },
    securityGroups: [],
    bridgeDomain: `aci-containers-${systemId}-pod-bd`,
  };
  return () => policy;
}

/** `<pod uid>_<container id>_<ifname>` as the original; parts the runtime did not pass are left out. */
export function endpointUuid(
  podUid: string | undefined,
  containerId: string,
  ifName: string,
): string {
  return [podUid, containerId, ifName]
    .filter((p): p is string => p !== undefined && p !== '')
    .join('_');
}

export interface EndpointInput {
  readonly uuid: string;
  readonly namespace: string;
  readonly podName: string;
  readonly containerId: string;
  readonly hostIfName: string;
  readonly mac: string;
  readonly ips: readonly string[];
  readonly gateways: readonly string[];
  readonly policy: EndpointPolicy;
}

/** Pure: the file content for one pod interface, validated against the shared schema. */
export function buildEndpointFile(input: EndpointInput): EndpointFile {
  return EndpointFile.parse({
    uuid: input.uuid,
    namespace: input.namespace,
    podName: input.podName,
    interfaceName: input.hostIfName,
    mac: input.mac,
    ips: [...input.ips],
    gateways: [...input.gateways],
    endpointGroup: input.policy.endpointGroup,
    securityGroups: [...input.policy.securityGroups],
    bridgeDomain: input.policy.bridgeDomain,
    attributes: {
      'vm-name': input.podName,
      namespace: input.namespace,
      'container-id': input.containerId,
    },
  } satisfies z.input<typeof EndpointFile>);
}

export class EndpointFileStore {
  /** @param dir the endpoints directory, e.g. /var/lib/aci-containers/endpoints */
  constructor(readonly dir: string) {}

  pathOf(uuid: string): string {
    return join(this.dir, `${uuid}${EndpointFileSuffix}`);
  }

  async write(ep: EndpointFile): Promise<void> {
    await writeFileAtomic(this.pathOf(ep.uuid), `${JSON.stringify(ep, null, 2)}\n`);
  }

  /** Idempotent; returns whether a file was there. */
  remove(uuid: string): Promise<boolean> {
    return removeFileDurably(this.pathOf(uuid));
  }

  /** The file, or undefined when it is missing or does not match the schema. */
  async read(uuid: string): Promise<EndpointFile | undefined> {
    try {
      const parsed = EndpointFile.safeParse(JSON.parse(await readFile(this.pathOf(uuid), 'utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /** UUIDs of the endpoint files present. */
  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => n.endsWith(EndpointFileSuffix) && !n.startsWith('.'))
      .map((n) => n.slice(0, -EndpointFileSuffix.length));
  }
}
