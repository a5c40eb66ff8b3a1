/**
 * The node agents' config file (agent.json, mcast.json): the host agent
 * writes it, by atomic rename into the shared opflex-hostconfig emptyDir,
 * only once it knows the node's PodIPPool, which is after the opflex agent
 * and mcast daemon containers have started. So they wait for it instead of
 * crash-looping, and apply every later rewrite without a process restart.
 *
 * Pure core: `nextConfig` decides what a read of the file means. Thin shell:
 * `ConfigFileWatcher` watches the *directory* (a rename replaces the inode,
 * and fs.watch on the old file never fires again) plus a slow poll, since
 * fs.watch can miss events.
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { z } from 'zod';

/** What one read of the file yields: its text, or that it does not exist (yet). */
export type ConfigRead = { exists: false } | { exists: true; text: string };

export type ConfigDecision<T> =
  /** No file yet: keep waiting (the first time: say so). */
  | { kind: 'wait' }
  /** Unparseable or invalid: keep what runs (or keep waiting), log the reason once per content. */
  | { kind: 'invalid'; reason: string }
  /** Same content as what runs: nothing to do. */
  | { kind: 'unchanged' }
  /** New valid content: start with it, or replace the running one. */
  | { kind: 'apply'; config: T; text: string };

/**
 * The rule. `appliedText` is the text of the config that runs (undefined
 * before the first one). A file that vanishes after a config was applied
 * leaves it running: the host agent rewrites, it never deletes.
 */
export function nextConfig<S extends z.ZodType>(
  schema: S,
  read: ConfigRead,
  appliedText: string | undefined,
): ConfigDecision<z.infer<S>> {
  if (!read.exists) return appliedText === undefined ? { kind: 'wait' } : { kind: 'unchanged' };
  if (read.text === appliedText) return { kind: 'unchanged' };
  let json: unknown;
  try {
    json = JSON.parse(read.text);
  } catch (err) {
    return { kind: 'invalid', reason: `not JSON: ${String(err)}` };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const reason = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    return { kind: 'invalid', reason };
  }
  return { kind: 'apply', config: parsed.data as z.infer<S>, text: read.text };
}

export interface ConfigFileWatcherOptions<S extends z.ZodType> {
  file: string;
  schema: S;
  log: Logger;
  /** Called with each new valid config, serially (the next waits for the previous). */
  apply: (config: z.infer<S>) => Promise<void>;
  pollIntervalMs?: number;
}

export class ConfigFileWatcher<S extends z.ZodType> {
  private appliedText?: string;
  private lastInvalid?: string;
  private waitLogged = false;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  private checkAgain = false;
  private stopped = false;
  private firstResolve?: () => void;
  /** Resolves once the first valid config has been applied. */
  readonly firstApplied: Promise<void>;

  constructor(private readonly opts: ConfigFileWatcherOptions<S>) {
    this.firstApplied = new Promise((resolve) => (this.firstResolve = resolve));
  }

  async start(): Promise<void> {
    const dir = path.dirname(this.opts.file);
    const base = path.basename(this.opts.file);
    try {
      this.watcher = watch(dir, (_event, name) => {
        if (name === null || name === base) void this.check();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch (err) {
      // The directory itself may not exist yet (the volume is not mounted yet): the poll covers it.
      this.opts.log.debug({ dir, err: String(err) }, 'Config directory not watchable yet');
    }
    this.timer = setInterval(() => void this.check(), this.opts.pollIntervalMs ?? 1000);
    await this.check();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
  }

  /** Reads the file and acts on it; concurrent calls coalesce into one more pass. */
  check(): Promise<void> {
    if (this.checking) {
      this.checkAgain = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.checkAgain = false;
        await this.checkOnce();
      } while (this.checkAgain && !this.stopped);
    })().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    const { file, schema, log } = this.opts;
    const read: ConfigRead = await readFile(file, 'utf8').then(
      (text) => ({ exists: true as const, text }),
      () => ({ exists: false as const }),
    );
    const decision = nextConfig(schema, read, this.appliedText);
    switch (decision.kind) {
      case 'wait':
        if (!this.waitLogged)
          log.info({ file }, 'Waiting for config file (the host agent writes it)');
        this.waitLogged = true;
        return;
      case 'unchanged':
        return;
      case 'invalid':
        if (read.exists && read.text !== this.lastInvalid)
          log.warn(
            { file, reason: decision.reason, running: this.appliedText !== undefined },
            this.appliedText === undefined
              ? 'Config file is invalid; waiting for a valid one'
              : 'Config file is invalid; keeping the running config',
          );
        if (read.exists) this.lastInvalid = read.text;
        return;
      case 'apply':
        if (this.stopped) return;
        log.info(
          { file, first: this.appliedText === undefined },
          this.appliedText === undefined ? 'Read config file' : 'Config file changed; applying',
        );
        try {
          await this.opts.apply(decision.config);
        } catch (err) {
          // Not marked applied: the next poll tries again.
          log.error({ file, err: String(err) }, 'Failed to apply config; retrying');
          return;
        }
        this.appliedText = decision.text;
        this.lastInvalid = undefined;
        this.firstResolve?.();
    }
  }
}
