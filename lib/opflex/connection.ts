/**
 * One OpFlex JSON-RPC session over a byte stream (a TLS or TCP socket),
 * shared by the agent's client and the leaf simulator's server: framing,
 * lossless parsing, request ids, reply matching with timeouts, echo, and the
 * rules for hostile input:
 * - a frame that is not JSON, or not an object with an id: an error reply
 *   with `id: null` (JSON-RPC 1.0's answer when the id is unknown); the
 *   session goes on, framing is intact;
 * - a request with an unknown method: EUNSUPPORTED, as libopflex answers;
 * - a request whose handler throws RpcError: that error; any other throw:
 *   ERROR with its message;
 * - a frame over the size limit: the connection closes (there is no
 *   boundary left to resynchronize on).
 * Nothing here touches another session: every state is per connection.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  DefaultMaxMessageBytes,
  FrameDecoder,
  FrameTooLargeError,
  encodeFrame,
} from './framing.ts';
import { type JsonValue, parseJson, stringifyJson } from './json.ts';
import {
  ErrorCodes,
  type RpcErrorBody,
  type RpcId,
  classifyEnvelope,
  errorEnvelope,
  idCounter,
  requestEnvelope,
  resultEnvelope,
} from './messages.ts';

/** The original agent's first request counter; ids are `[method, counter]`. */
export const FirstRequestCounter = 2n ** 63n;

/** Thrown by a handler to answer with this error code. */
export class RpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** The peer answered a request with an error. */
export class RemoteError extends Error {
  constructor(
    readonly method: string,
    readonly body: RpcErrorBody,
  ) {
    super(`OpFlex ${method} failed: ${body.code}: ${body.message}`);
    this.name = 'RemoteError';
  }
}

export class ConnectionClosedError extends Error {
  constructor(reason: string) {
    super(`OpFlex connection closed: ${reason}`);
    this.name = 'ConnectionClosedError';
  }
}

export type RequestHandler = (
  method: string,
  params: JsonValue,
  connection: RpcConnection,
) => Promise<JsonValue | object> | JsonValue | object;

export interface RpcConnectionOptions {
  maxMessageBytes?: number;
  /** Reply timeout of our requests (default 30 s). */
  requestTimeoutMs?: number;
  /** Methods this side serves; echo is always answered. */
  handler?: RequestHandler;
  /** Called for frames the connection could not use (logged by the owner). */
  onProtocolError?: (reason: string) => void;
}

interface Pending {
  method: string;
  resolve: (v: JsonValue) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface RpcConnectionEvents {
  close: [reason: string];
}

export class RpcConnection extends EventEmitter<RpcConnectionEvents> {
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<bigint, Pending>();
  private counter = FirstRequestCounter;
  private closedReason?: string;
  private readonly requestTimeoutMs: number;
  /** Requests are served one at a time, in order, as the peer sent them. */
  private serving: Promise<void> = Promise.resolve();
  readonly stats = { framesIn: 0, framesOut: 0, protocolErrors: 0 };

  constructor(
    readonly socket: Duplex,
    private readonly options: RpcConnectionOptions = {},
  ) {
    super();
    this.decoder = new FrameDecoder(options.maxMessageBytes ?? DefaultMaxMessageBytes);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => this.close(`socket error: ${err.message}`));
    socket.on('close', () => this.close('closed by peer'));
    socket.on('end', () => this.close('ended by peer'));
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Sends a request and resolves with its result; rejects with RemoteError, a timeout or a close. */
  request(method: string, params: unknown, timeoutMs = this.requestTimeoutMs): Promise<JsonValue> {
    if (this.closedReason !== undefined)
      return Promise.reject(new ConnectionClosedError(this.closedReason));
    const counter = this.counter++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(counter);
        reject(new Error(`OpFlex ${method} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(counter, { method, resolve, reject, timer });
      this.send(requestEnvelope([method, counter], method, params));
    });
  }

  /** Sends one envelope; false when the connection is already closed. */
  send(envelope: object): boolean {
    if (this.closedReason !== undefined) return false;
    this.stats.framesOut++;
    this.socket.write(encodeFrame(stringifyJson(envelope)));
    return true;
  }

  close(reason = 'closed locally'): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ConnectionClosedError(reason));
    }
    this.pending.clear();
    this.socket.destroy();
    this.emit('close', reason);
  }

  private protocolError(reason: string): void {
    this.stats.protocolErrors++;
    this.options.onProtocolError?.(reason);
  }

  private onData(chunk: Buffer): void {
    let frames: string[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameTooLargeError)) throw err;
      this.protocolError(err.message);
      // Say why before closing: the peer may log it; the rest of the stream is unusable.
      this.send(errorEnvelope(null, ErrorCodes.error, err.message));
      this.socket.end();
      this.close(err.message);
      return;
    }
    for (const frame of frames) this.onFrame(frame);
  }

  private onFrame(text: string): void {
    this.stats.framesIn++;
    let parsed: JsonValue;
    let envelope;
    try {
      parsed = parseJson(text);
    } catch (err) {
      const reason = `malformed message: ${(err as Error).message}`;
      this.protocolError(reason);
      this.send(errorEnvelope(null, ErrorCodes.error, reason));
      return;
    }
    try {
      envelope = classifyEnvelope(parsed);
    } catch (err) {
      const reason = `malformed message: ${(err as Error).message}`;
      this.protocolError(reason);
      // A malformed reply is never answered: two peers would trade error replies forever.
      if (!looksLikeReply(parsed)) this.send(errorEnvelope(null, ErrorCodes.error, reason));
      return;
    }
    switch (envelope.kind) {
      case 'request':
        this.serve(envelope.id, envelope.method, envelope.params);
        return;
      case 'result':
      case 'error': {
        const counter = idCounter(envelope.id);
        const pending = counter === undefined ? undefined : this.pending.get(counter);
        if (pending === undefined || counter === undefined) {
          this.protocolError(`reply to no outstanding request: ${stringifyJson(envelope.id)}`);
          return;
        }
        this.pending.delete(counter);
        clearTimeout(pending.timer);
        if (envelope.kind === 'result') pending.resolve(envelope.result);
        else pending.reject(new RemoteError(pending.method, envelope.error));
      }
    }
  }

  private serve(id: RpcId, method: string, params: JsonValue): void {
    this.serving = this.serving.then(async () => {
      if (this.closedReason !== undefined) return;
      if (method === 'echo') {
        this.send(resultEnvelope(id, params));
        return;
      }
      const handler = this.options.handler;
      if (handler === undefined) {
        this.send(errorEnvelope(id, ErrorCodes.unsupported, 'Unsupported request'));
        return;
      }
      try {
        const result = await handler(method, params, this);
        this.send(resultEnvelope(id, result));
      } catch (err) {
        if (err instanceof RpcError) this.send(errorEnvelope(id, err.code, err.message));
        else this.send(errorEnvelope(id, ErrorCodes.error, (err as Error).message));
      }
    });
  }
}

function looksLikeReply(frame: JsonValue): boolean {
  return (
    typeof frame === 'object' &&
    frame !== null &&
    !Array.isArray(frame) &&
    !('method' in frame) &&
    ('result' in frame || 'error' in frame)
  );
}
