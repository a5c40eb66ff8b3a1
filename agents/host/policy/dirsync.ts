/**
 * Keeps a directory of JSON files equal to a desired set: writes a file only
 * when its content differs from what is on disk (so the opflex agent's
 * watcher sees no event for an unchanged group), removes files of the
 * suffix that are no longer desired, and never touches other files.
 * Writes are atomic (temp file + rename) through FileOps, which tests
 * replace to count writes.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeFileDurably, writeFileAtomic } from '../ipam/atomicfile.ts';

export interface FileOps {
  /** File names in dir; [] when dir does not exist. */
  list(dir: string): Promise<string[]>;
  /** Content, or undefined when the file does not exist. */
  read(path: string): Promise<string | undefined>;
  write(path: string, content: string): Promise<void>;
  remove(path: string): Promise<void>;
}

export const nodeFileOps: FileOps = {
  async list(dir) {
    try {
      return await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  },
  async read(path) {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  },
  write: writeFileAtomic,
  async remove(path) {
    await removeFileDurably(path);
  },
};

export interface SyncReport {
  readonly written: string[];
  readonly removed: string[];
}

/** The one serialization of every file the agent writes, so equal content means equal text. */
export const fileText = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** Makes `dir` hold exactly `desired` (file name without suffix -> content) among its `*suffix` files. */
export async function syncDirectory(
  dir: string,
  suffix: string,
  desired: ReadonlyMap<string, unknown>,
  fs: FileOps = nodeFileOps,
): Promise<SyncReport> {
  const written: string[] = [];
  const removed: string[] = [];
  for (const [name, value] of [...desired].sort(([a], [b]) => a.localeCompare(b))) {
    const path = join(dir, `${name}${suffix}`);
    const text = fileText(value);
    if ((await fs.read(path)) === text) continue;
    await fs.write(path, text);
    written.push(name);
  }
  for (const file of await fs.list(dir)) {
    // Dot files are temporary files of an atomic write in progress.
    if (!file.endsWith(suffix) || file.startsWith('.')) continue;
    const name = file.slice(0, -suffix.length);
    if (desired.has(name)) continue;
    await fs.remove(join(dir, file));
    removed.push(name);
  }
  return { written, removed };
}
