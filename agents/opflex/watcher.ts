/**
 * Watches one folder of contract files (fs.watch for speed, a periodic
 * rescan because fs.watch can miss events). Each file is parsed on its own:
 * a corrupt file is logged once and skipped, the others are unaffected.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { z } from 'zod';

interface Entry<T> {
  ino: number;
  mtimeMs: number;
  size: number;
  value?: T;
}

export class FolderWatcher<S extends z.ZodType> {
  private readonly entries = new Map<string, Entry<z.infer<S>>>();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private scanning?: Promise<boolean>;
  private rescanRequested = false;

  constructor(
    readonly dir: string,
    private readonly suffix: string,
    private readonly schema: S,
    private readonly log: Logger,
    private readonly onChange: () => void,
    private readonly rescanIntervalMs = 5000,
    /** fs.watch on top of the rescan; off only where a test drives scans itself. */
    private readonly useFsWatch = true,
  ) {}

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.scan();
    if (this.useFsWatch)
      this.watcher = watch(
        this.dir,
        () => void this.scan().then((changed) => changed && this.onChange()),
      );
    this.watcher?.on('error', (err) =>
      this.log.warn({ dir: this.dir, err: String(err) }, 'Folder watch failed, relying on rescan'),
    );
    this.timer = setInterval(
      () => void this.scan().then((changed) => changed && this.onChange()),
      this.rescanIntervalMs,
    );
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.timer);
  }

  values(): z.infer<S>[] {
    const out: z.infer<S>[] = [];
    for (const e of this.entries.values()) if (e.value !== undefined) out.push(e.value);
    return out;
  }

  /** Resolves once no scan is running; starts none. */
  async idle(): Promise<void> {
    while (this.scanning) await this.scanning;
  }

  /** Rescans; resolves true if any valid file appeared, changed or went away. Coalesces concurrent calls. */
  scan(): Promise<boolean> {
    if (this.scanning) {
      // The running scan loops once more, so its result covers this request too.
      this.rescanRequested = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      let changed = false;
      do {
        this.rescanRequested = false;
        changed = (await this.scanOnce()) || changed;
      } while (this.rescanRequested);
      return changed;
    })().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  private async scanOnce(): Promise<boolean> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith(this.suffix));
    } catch (err) {
      this.log.warn({ dir: this.dir, err: String(err) }, 'Failed to list folder');
      return false;
    }
    let changed = false;
    const present = new Set(names);
    for (const name of [...this.entries.keys()]) {
      if (present.has(name)) continue;
      if (this.entries.get(name)?.value !== undefined) changed = true;
      this.entries.delete(name);
    }
    for (const name of names) {
      const file = path.join(this.dir, name);
      try {
        const st = await stat(file);
        const prev = this.entries.get(name);
        // Writers rename a new file into place, so a new inode means new content even within one mtime tick.
        if (prev && prev.ino === st.ino && prev.mtimeMs === st.mtimeMs && prev.size === st.size)
          continue;
        const entry: Entry<z.infer<S>> = { ino: st.ino, mtimeMs: st.mtimeMs, size: st.size };
        const parsed = this.schema.safeParse(JSON.parse(await readFile(file, 'utf8')));
        if (parsed.success) entry.value = parsed.data;
        else
          this.log.warn({ file, issues: parsed.error.issues.slice(0, 3) }, 'Skipped invalid file');
        if (prev?.value !== undefined || entry.value !== undefined) changed = true;
        this.entries.set(name, entry);
      } catch (err) {
        // Unparseable JSON, or the file vanished between readdir and read.
        const prev = this.entries.get(name);
        if (prev?.value !== undefined) changed = true;
        const st = await stat(file).catch(() => undefined);
        if (st) {
          if (!prev || prev.mtimeMs !== st.mtimeMs)
            this.log.warn({ file, err: String(err) }, 'Skipped corrupt file');
          this.entries.set(name, { ino: st.ino, mtimeMs: st.mtimeMs, size: st.size });
        } else this.entries.delete(name);
      }
    }
    return changed;
  }
}
