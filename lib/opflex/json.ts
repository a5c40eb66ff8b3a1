/**
 * Lossless JSON for the OpFlex wire. The original agent numbers its
 * requests from 2^63 (`[method, counter]` ids) and model properties are
 * unsigned 64-bit (genIds, counters): `JSON.parse` rounds such integers to
 * the nearest double, so a reply would carry an id the agent never sent.
 *
 * Why a parser of our own and not `lossless-json` or a reviver: Node 20 has
 * no `JSON.parse` source-text access (that arrived in Node 21), and a new
 * dependency would buy a general number type that every caller then has to
 * unwrap. The need here is narrow: integers outside the safe range become
 * `bigint`, everything else is exactly what `JSON.parse` gives. The parser
 * is a small recursive descent over RFC 8259 with a depth limit, so a
 * hostile message cannot exhaust the stack.
 */

export type JsonValue =
  string | number | bigint | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'JsonSyntaxError';
  }
}

/** Nesting deeper than this is refused (OpFlex objects nest a handful of levels). */
export const MaxJsonDepth = 256;

const integerPattern = /^-?(0|[1-9]\d*)$/;

export function parseJson(text: string): JsonValue {
  const parser = new Parser(text);
  parser.skipSpace();
  const value = parser.value(0);
  parser.skipSpace();
  if (parser.pos !== text.length) throw new JsonSyntaxError('Unexpected trailing text', parser.pos);
  return value;
}

class Parser {
  pos = 0;
  constructor(private readonly text: string) {}

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else break;
    }
  }

  value(depth: number): JsonValue {
    if (depth > MaxJsonDepth) throw new JsonSyntaxError('Nesting too deep', this.pos);
    const c = this.text[this.pos];
    switch (c) {
      case '{':
        return this.object(depth);
      case '[':
        return this.array(depth);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        throw new JsonSyntaxError(
          c === undefined ? 'Unexpected end of input' : `Unexpected character ${JSON.stringify(c)}`,
          this.pos,
        );
    }
  }

  private literal<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos))
      throw new JsonSyntaxError('Invalid literal', this.pos);
    this.pos += word.length;
    return value;
  }

  private number(): number | bigint {
    const start = this.pos;
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(
      this.text.slice(start, start + 400),
    );
    if (match === null || match[0] === '-') throw new JsonSyntaxError('Invalid number', start);
    this.pos += match[0].length;
    const literal = match[0];
    if (integerPattern.test(literal)) {
      const n = Number(literal);
      return Number.isSafeInteger(n) ? n : BigInt(literal);
    }
    return Number(literal);
  }

  private string(): string {
    const t = this.text;
    let out = '';
    let i = this.pos + 1;
    let chunkStart = i;
    for (;;) {
      if (i >= t.length) throw new JsonSyntaxError('Unterminated string', this.pos);
      const c = t.charCodeAt(i);
      if (c === 0x22) {
        out += t.slice(chunkStart, i);
        this.pos = i + 1;
        return out;
      }
      if (c < 0x20) throw new JsonSyntaxError('Control character in string', i);
      if (c === 0x5c) {
        out += t.slice(chunkStart, i);
        const e = t[i + 1];
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += e;
            i += 2;
            break;
          case 'b':
            out += '\b';
            i += 2;
            break;
          case 'f':
            out += '\f';
            i += 2;
            break;
          case 'n':
            out += '\n';
            i += 2;
            break;
          case 'r':
            out += '\r';
            i += 2;
            break;
          case 't':
            out += '\t';
            i += 2;
            break;
          case 'u': {
            const hex = t.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new JsonSyntaxError('Invalid \\u escape', i);
            out += String.fromCharCode(parseInt(hex, 16));
            i += 6;
            break;
          }
          default:
            throw new JsonSyntaxError('Invalid escape', i);
        }
        chunkStart = i;
        continue;
      }
      i++;
    }
  }

  private array(depth: number): JsonValue[] {
    const out: JsonValue[] = [];
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      out.push(this.value(depth + 1));
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === ']') {
        this.pos++;
        return out;
      }
      throw new JsonSyntaxError("Expected ',' or ']'", this.pos);
    }
  }

  private object(depth: number): { [key: string]: JsonValue } {
    // A null prototype: a key named __proto__ is data, not a prototype change.
    const out = Object.create(null) as { [key: string]: JsonValue };
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') throw new JsonSyntaxError('Expected a key', this.pos);
      const key = this.string();
      this.skipSpace();
      if (this.text[this.pos] !== ':') throw new JsonSyntaxError("Expected ':'", this.pos);
      this.pos++;
      this.skipSpace();
      out[key] = this.value(depth + 1);
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === '}') {
        this.pos++;
        return out;
      }
      throw new JsonSyntaxError("Expected ',' or '}'", this.pos);
    }
  }
}

/** JSON text with bigints written as integers; `undefined` members are left out as JSON.stringify does. */
export function stringifyJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'bigint' ? { [bigintMarker]: v.toString() } : v,
  ).replace(bigintPattern, '$1');
}

// JSON.stringify cannot emit a bare bigint; a marker object is written and then unwrapped.
const bigintMarker = '\u0000opflex-bigint';
const bigintPattern = /\{"\\u0000opflex-bigint":"(-?\d+)"\}/g;
