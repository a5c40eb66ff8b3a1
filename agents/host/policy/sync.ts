/**
 * The file shells of the policy view: security-group files and the policy
 * fields of endpoint files.
 *
 * Endpoint files belong to the CNI server (it creates them at ADD and
 * removes them at DEL); this sync only rewrites the EPG, security groups
 * and bridge domain of existing files when they change, and removes files
 * no allocation owns. That sweep is safe against a concurrent ADD because
 * the IPAM allocation is persisted before its endpoint file is written and
 * the allocations are read after the directory is listed; and it repairs
 * the one race left, a policy rewrite landing just after a DEL removed the
 * file.
 */
import { join } from 'node:path';
import { EndpointFile, EndpointFileSuffix, SecurityGroupFileSuffix } from '../../opflex/files.ts';
import type { SecurityGroupFile } from '../../opflex/files.ts';
import { endpointUuid } from '../endpoints/index.ts';
import type { EndpointPolicy, PodIdentity } from '../endpoints/index.ts';
import type { Allocation } from '../ipam/index.ts';
import { fileText, nodeFileOps, syncDirectory, type FileOps, type SyncReport } from './dirsync.ts';

export const SecurityGroupsDir = 'security-groups';
export const EndpointsDir = 'endpoints';

export function syncSecurityGroupFiles(
  stateDir: string,
  groups: ReadonlyMap<string, SecurityGroupFile>,
  fs: FileOps = nodeFileOps,
): Promise<SyncReport> {
  return syncDirectory(join(stateDir, SecurityGroupsDir), SecurityGroupFileSuffix, groups, fs);
}

export interface EndpointSyncInput {
  readonly stateDir: string;
  /** The current allocations; called after listing the folder, and again after each write. */
  readonly allocations: () => readonly Allocation[];
  readonly podLabels: (namespace: string, name: string) => Readonly<Record<string, string>>;
  readonly policyOf: (pod: PodIdentity) => EndpointPolicy;
}

/** Pure: the endpoint file with the pod's current policy. */
export function withPolicy(file: EndpointFile, policy: EndpointPolicy): EndpointFile {
  return {
    ...file,
    endpointGroup: { ...policy.endpointGroup },
    securityGroups: [...policy.securityGroups],
    bridgeDomain: policy.bridgeDomain,
  };
}

const uuidOf = (a: Allocation): string => endpointUuid(a.pod?.uid, a.containerId, a.ifName);

export async function syncEndpointFiles(
  input: EndpointSyncInput,
  fs: FileOps = nodeFileOps,
): Promise<SyncReport> {
  const dir = join(input.stateDir, EndpointsDir);
  const names = (await fs.list(dir)).filter(
    (n) => n.endsWith(EndpointFileSuffix) && !n.startsWith('.'),
  );
  const owners = new Map(input.allocations().map((a) => [uuidOf(a), a]));
  const written: string[] = [];
  const removed: string[] = [];
  for (const name of names.sort()) {
    const uuid = name.slice(0, -EndpointFileSuffix.length);
    const path = join(dir, name);
    const owner = owners.get(uuid);
    if (!owner) {
      await fs.remove(path);
      removed.push(uuid);
      continue;
    }
    const text = await fs.read(path);
    if (text === undefined) continue; // deleted meanwhile by a DEL
    let current: EndpointFile;
    try {
      current = EndpointFile.parse(JSON.parse(text));
    } catch {
      continue; // the CNI server's CHECK and reconcile own broken files
    }
    const namespace = owner.pod?.namespace ?? current.namespace;
    const podName = owner.pod?.name ?? current.podName;
    const policy = input.policyOf({
      namespace,
      name: podName,
      labels: input.podLabels(namespace, podName),
    });
    const next = fileText(withPolicy(current, policy));
    if (next === text) continue;
    await fs.write(path, next);
    written.push(uuid);
    if (!input.allocations().some((a) => uuidOf(a) === uuid)) {
      // A DEL released the pod while we wrote: do not leave its file behind.
      await fs.remove(path);
      removed.push(uuid);
    }
  }
  return { written, removed };
}
