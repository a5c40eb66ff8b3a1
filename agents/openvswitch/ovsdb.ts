/**
 * A small typed OVSDB client (RFC 7047 JSON-RPC over a unix socket): transact,
 * monitor, and the echo keep-alive the server sends. No npm package speaks
 * OVSDB, and the agents only need these three methods.
 *
 * Values use the OVSDB wire encoding (`["uuid", ...]`, `["set", [...]]`,
 * `["map", [[k, v], ...]]`); the helpers below convert to and from plain JS.
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';

export type OvsdbAtom = string | number | boolean | ['uuid', string] | ['named-uuid', string];
export type OvsdbValue = OvsdbAtom | ['set', OvsdbAtom[]] | ['map', [OvsdbAtom, OvsdbAtom][]];
export type OvsdbRow = Record<string, OvsdbValue>;

export type OvsdbOperation =
  | { op: 'insert'; table: string; row: OvsdbRow; 'uuid-name'?: string }
  | { op: 'select'; table: string; where: OvsdbCondition[]; columns?: string[] }
  | { op: 'update'; table: string; where: OvsdbCondition[]; row: OvsdbRow }
  | {
      op: 'mutate';
      table: string;
      where: OvsdbCondition[];
      mutations: [string, string, OvsdbValue][];
    }
  | { op: 'delete'; table: string; where: OvsdbCondition[] }
  | {
      op: 'wait';
      table: string;
      where: OvsdbCondition[];
      columns: string[];
      until: '==' | '!=';
      rows: OvsdbRow[];
      timeout?: number;
    }
  | { op: 'comment'; comment: string };
export type OvsdbCondition = [string, '==' | '!=' | 'includes' | 'excludes', OvsdbValue];

export interface OvsdbOpResult {
  uuid?: ['uuid', string];
  rows?: OvsdbRow[];
  count?: number;
  error?: string;
  details?: string;
}

/** `<table> -> <row uuid> -> {old?, new?}`, as in RFC 7047 §4.1.6. */
export type TableUpdates = Record<string, Record<string, { old?: OvsdbRow; new?: OvsdbRow }>>;

export class OvsdbError extends Error {
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * Emits `update` (monitorId, TableUpdates) and `close`. Requests made after
 * close reject; reconnecting is the caller's job (a new client), because a
 * monitor has to be re-established with a fresh initial dump anyway.
 */
export class OvsdbClient extends EventEmitter {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffer = '';
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    super();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.onClose());
    socket.on('error', () => this.onClose());
  }

  static connect(socketPath: string, timeoutMs = 2000): Promise<OvsdbClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new OvsdbError(`timed out connecting to ${socketPath}`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new OvsdbClient(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
    this.onClose();
  }

  echo(): Promise<unknown> {
    return this.request('echo', ['ping']);
  }

  listDbs(): Promise<string[]> {
    return this.request('list_dbs', []) as Promise<string[]>;
  }

  /** All-or-nothing: rejects if any operation reports an error. */
  async transact(db: string, ops: OvsdbOperation[]): Promise<OvsdbOpResult[]> {
    const results = (await this.request('transact', [db, ...ops])) as (OvsdbOpResult | null)[];
    const failed = results.find((r) => r && r.error);
    if (failed)
      throw new OvsdbError(`transaction failed: ${failed.error}: ${failed.details ?? ''}`, results);
    return results.map((r) => r ?? {});
  }

  /** Starts a monitor; returns the initial contents and emits `update` afterwards. */
  monitor(
    db: string,
    monitorId: string,
    requests: Record<string, { columns?: string[] }>,
  ): Promise<TableUpdates> {
    return this.request('monitor', [db, monitorId, requests]) as Promise<TableUpdates>;
  }

  private request(method: string, params: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new OvsdbError('connection closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(JSON.stringify({ method, params, id }));
    });
  }

  /** The server sends concatenated JSON objects with no delimiter: split on balanced braces. */
  private onData(chunk: string): void {
    this.buffer += chunk;
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        this.onMessage(this.buffer.slice(start, i + 1));
        start = i + 1;
      }
    }
    this.buffer = this.buffer.slice(start);
  }

  private onMessage(text: string): void {
    const msg = JSON.parse(text) as {
      id?: number | string | null;
      method?: string;
      params?: unknown[];
      result?: unknown;
      error?: unknown;
    };
    if (msg.method === 'echo') {
      this.socket.write(JSON.stringify({ id: msg.id, result: msg.params ?? [], error: null }));
      return;
    }
    if (msg.method === 'update' && msg.params) {
      this.emit('update', msg.params[0], msg.params[1] as TableUpdates);
      return;
    }
    if (typeof msg.id !== 'number') return;
    const pending = this.pending.get(msg.id);
    if (!pending) return;
    this.pending.delete(msg.id);
    if (msg.error) pending.reject(new OvsdbError(`ovsdb ${JSON.stringify(msg.error)}`, msg.error));
    else pending.resolve(msg.result);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new OvsdbError('connection closed'));
    this.pending.clear();
    this.emit('close');
  }
}

// ---- value helpers -------------------------------------------------------

export const ovsSet = (atoms: OvsdbAtom[]): OvsdbValue => ['set', atoms];
export const ovsMap = (m: Record<string, string>): OvsdbValue => ['map', Object.entries(m)];
export const namedUuid = (name: string): OvsdbAtom => ['named-uuid', name];
export const uuid = (id: string): OvsdbAtom => ['uuid', id];

/** Scalars and single-element sets both decode to their atom; empty sets to undefined. */
export function ovsScalar(v: OvsdbValue | undefined): OvsdbAtom | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v[0] === 'set') return (v[1] as OvsdbAtom[])[0];
  return v as OvsdbAtom;
}

export function ovsAtoms(v: OvsdbValue | undefined): OvsdbAtom[] {
  if (v === undefined) return [];
  if (Array.isArray(v) && v[0] === 'set') return v[1] as OvsdbAtom[];
  return [v as OvsdbAtom];
}

export function ovsMapToRecord(v: OvsdbValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v) && v[0] === 'map')
    for (const [k, val] of v[1] as [OvsdbAtom, OvsdbAtom][]) out[String(k)] = String(val);
  return out;
}

export function uuidOf(atom: OvsdbAtom | undefined): string | undefined {
  return Array.isArray(atom) ? atom[1] : undefined;
}
