/**
 * One request/response exchange with the CNI server: send the JSON request,
 * half-close, read the JSON answer until the server closes.
 */
import { connect } from 'node:net';
import { CniResponse, MaxMessageBytes } from '../host/cniserver/protocol.ts';
import type { CniRequest } from '../host/cniserver/protocol.ts';

/** The server could not be reached at all (not running, socket missing). */
export class ServerUnreachableError extends Error {
  constructor(
    readonly socketPath: string,
    override readonly cause: Error,
  ) {
    super(`CNI server at ${socketPath} is not reachable: ${cause.message}`);
    this.name = 'ServerUnreachableError';
  }
}

export function callServer(
  socketPath: string,
  request: CniRequest,
  timeoutMs = 120_000,
): Promise<CniResponse> {
  return new Promise((resolve, reject) => {
    const sock = connect({ path: socketPath, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let connected = false;
    let size = 0;
    sock.setTimeout(timeoutMs, () =>
      sock.destroy(new Error(`no answer from the CNI server within ${timeoutMs} ms`)),
    );
    sock.on('connect', () => {
      connected = true;
      sock.end(JSON.stringify(request));
    });
    sock.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MaxMessageBytes)
        sock.destroy(new Error('answer from the CNI server is too large'));
      else chunks.push(b);
    });
    sock.on('error', (err) => {
      reject(connected ? err : new ServerUnreachableError(socketPath, err));
    });
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(CniResponse.parse(JSON.parse(text)));
      } catch (err) {
        reject(new Error(`malformed answer from the CNI server: ${(err as Error).message}`));
      }
    });
  });
}
