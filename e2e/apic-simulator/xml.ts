// The APIC's XML encoding of managed objects: an element per MO named by its
// class, attributes as XML attributes, children as child elements; responses
// are `<imdata totalCount="n">…</imdata>` and errors
// `<imdata totalCount="1"><error code=".." text=".."/></imdata>`.
import type { Mo } from '../../agents/controller/apic/mo.ts';
import { ApicError } from './errors.ts';

const entities: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return entities[e] ?? m;
  });
}

function encode(s: string): string {
  return s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

const xmlError = (why: string) => new ApicError(400, '400', `XML parsing failed - ${why}`);

/** Parses one MO element (with nested children) from an XML request body. */
export function parseMoXml(text: string): Mo {
  let i = 0;
  const skipMisc = () => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i] ?? '')) i++;
      if (text.startsWith('<?', i)) {
        const end = text.indexOf('?>', i);
        if (end < 0) throw xmlError('unterminated declaration');
        i = end + 2;
      } else if (text.startsWith('<!--', i)) {
        const end = text.indexOf('-->', i);
        if (end < 0) throw xmlError('unterminated comment');
        i = end + 3;
      } else return;
    }
  };
  const element = (): Mo => {
    if (text[i] !== '<') throw xmlError(`expected an element at offset ${i}`);
    i++;
    const name = /^[A-Za-z_][\w.:-]*/.exec(text.slice(i))?.[0];
    if (name === undefined) throw xmlError(`bad element name at offset ${i}`);
    i += name.length;
    const attributes: Record<string, string> = {};
    for (;;) {
      while (/\s/.test(text[i] ?? '')) i++;
      if (text.startsWith('/>', i)) {
        i += 2;
        return { [name]: { attributes } };
      }
      if (text[i] === '>') {
        i++;
        break;
      }
      const m = /^([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)')/.exec(text.slice(i));
      if (m === null) throw xmlError(`bad attribute in element '${name}'`);
      attributes[m[1] as string] = decode(m[3] ?? m[4] ?? '');
      i += m[0].length;
    }
    const children: Mo[] = [];
    for (;;) {
      skipMisc();
      if (text.startsWith(`</${name}`, i)) {
        const end = text.indexOf('>', i);
        if (end < 0) throw xmlError(`unterminated end tag of '${name}'`);
        i = end + 1;
        return children.length > 0
          ? { [name]: { attributes, children } }
          : { [name]: { attributes } };
      }
      if (i >= text.length) throw xmlError(`element '${name}' is not closed`);
      if (text[i] !== '<') throw xmlError(`text content in element '${name}'`);
      children.push(element());
    }
  };
  skipMisc();
  const mo = element();
  skipMisc();
  if (i < text.length) throw xmlError('content after the root element');
  return mo;
}

function moXml(mo: Mo): string {
  const [cls, body] = Object.entries(mo)[0] ?? ['', {}];
  const attrs = Object.entries(body.attributes ?? {})
    .map(([k, v]) => ` ${k}="${encode(String(v))}"`)
    .join('');
  const children = body.children ?? [];
  if (children.length === 0) return `<${cls}${attrs}/>`;
  return `<${cls}${attrs}>${children.map(moXml).join('')}</${cls}>`;
}

export function imdataXml(totalCount: string, imdata: readonly Mo[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?><imdata totalCount="${totalCount}">${imdata.map(moXml).join('')}</imdata>`;
}

export function errorXml(code: string, text: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><imdata totalCount="1"><error code="${encode(code)}" text="${encode(text)}"/></imdata>`;
}
