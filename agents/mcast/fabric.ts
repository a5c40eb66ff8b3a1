/**
 * Group membership on the (simulated) fabric. In ACI a node that has
 * endpoints in a bridge domain joins the domain's multicast group on its
 * uplink, and the fabric delivers the domain's flood traffic to every
 * member. Here the fabric is a shared directory: joining writes
 * `<dir>/<group>/<node>`, leaving removes it, and the members of a group are
 * the files in its folder. A real deployment swaps this for an IGMP join on
 * the uplink; the daemon only uses the interface below.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface Fabric {
  join(group: string, node: string): Promise<void>;
  leave(group: string, node: string): Promise<void>;
  members(group: string): Promise<string[]>;
}

export class DirectoryFabric implements Fabric {
  constructor(readonly dir: string) {}

  async join(group: string, node: string): Promise<void> {
    await mkdir(path.join(this.dir, group), { recursive: true });
    await writeFile(path.join(this.dir, group, node), `${Date.now()}\n`);
  }

  async leave(group: string, node: string): Promise<void> {
    await rm(path.join(this.dir, group, node), { force: true });
  }

  async members(group: string): Promise<string[]> {
    return (await readdir(path.join(this.dir, group)).catch(() => [] as string[])).sort();
  }
}
