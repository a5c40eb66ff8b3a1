/**
 * OpFlex framing: each message is one JSON object followed by a NUL byte
 * (what libopflex's yajr transport writes and expects). TCP delivers bytes
 * in arbitrary chunks, so the decoder keeps the tail of an incomplete frame
 * until its NUL arrives, and refuses a frame that grows past the maximum
 * size instead of buffering without bound.
 */

/** The default largest frame accepted: a policy_resolve reply for a large tenant fits many times over. */
export const DefaultMaxMessageBytes = 8 * 1024 * 1024;

export class FrameTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`OpFlex message of at least ${size} bytes exceeds the limit of ${limit} bytes`);
    this.name = 'FrameTooLargeError';
  }
}

export function encodeFrame(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  const out = Buffer.allocUnsafe(body.length + 1);
  body.copy(out);
  out[body.length] = 0;
  return out;
}

/**
 * Splits a byte stream into frames. `push` returns the complete frames the
 * chunk finished (as UTF-8 text, NUL removed, empty frames skipped) and
 * throws FrameTooLargeError once a frame exceeds `maxBytes`; after that the
 * stream has no trustworthy boundary left and the connection must close.
 */
export class FrameDecoder {
  private parts: Buffer[] = [];
  private pending = 0;

  constructor(readonly maxBytes: number = DefaultMaxMessageBytes) {}

  push(chunk: Buffer): string[] {
    const frames: string[] = [];
    let start = 0;
    for (;;) {
      const nul = chunk.indexOf(0, start);
      if (nul === -1) break;
      const piece = chunk.subarray(start, nul);
      const size = this.pending + piece.length;
      if (size > this.maxBytes) throw new FrameTooLargeError(size, this.maxBytes);
      const frame = this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece], size);
      this.parts = [];
      this.pending = 0;
      if (frame.length > 0) frames.push(frame.toString('utf8'));
      start = nul + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pending += rest.length;
      if (this.pending > this.maxBytes) throw new FrameTooLargeError(this.pending, this.maxBytes);
      // Copied: the socket may reuse the chunk's memory.
      this.parts.push(Buffer.from(rest));
    }
    return frames;
  }

  /** Bytes of an unfinished frame held. */
  get buffered(): number {
    return this.pending;
  }
}
