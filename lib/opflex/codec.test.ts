import test from 'ava';
import fc from 'fast-check';
import { FrameDecoder, FrameTooLargeError, encodeFrame } from './framing.ts';
import { JsonSyntaxError, MaxJsonDepth, parseJson, stringifyJson } from './json.ts';
import { ProtocolError, classifyEnvelope, idCounter } from './messages.ts';
import { buildUri, epGroupUri, escapeUriElement, platformConfigUri, uriElements } from './uri.ts';

test('the lossless parser reads any JSON text exactly as JSON.parse does when numbers are safe', (t) => {
  fc.assert(
    fc.property(fc.jsonValue().filter(onlySafeNumbers), (value) => {
      const text = JSON.stringify(value);
      t.deepEqual(parseJson(text), JSON.parse(text));
    }),
    { numRuns: 300 },
  );
});

function onlySafeNumbers(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isInteger(v) || Number.isSafeInteger(v);
  if (Array.isArray(v)) return v.every(onlySafeNumbers);
  if (typeof v === 'object' && v !== null) return Object.values(v).every(onlySafeNumbers);
  return true;
}

test('64-bit counters survive the round trip: ids from 2^63 come back as the same bigint', (t) => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }),
      fc.string(),
      (counter, method) => {
        const text = stringifyJson({ id: [method, counter], method, params: [] });
        const back = parseJson(text) as { id: [string, bigint] };
        t.is(back.id[1], counter);
        t.is(back.id[0], method);
        t.is(idCounter(back.id), counter);
      },
    ),
  );
  // The value JSON.parse would round to 9223372036854775808 stays exact.
  t.is(
    (parseJson('{"id":["policy_resolve",9223372036854775809]}') as { id: unknown[] }).id[1],
    9223372036854775809n,
  );
  t.is(stringifyJson([2n ** 63n + 1n, -5n]), '[9223372036854775809,-5]');
});

test('strings holding the bigint marker text are data, not numbers', (t) => {
  const tricky = { s: '{"\\u0000opflex-bigint":"1"}', n: 1n };
  t.deepEqual(parseJson(stringifyJson(tricky)), { s: tricky.s, n: 1 });
});

const messages = fc.array(
  fc.record({
    id: fc.tuple(fc.constantFrom('echo', 'policy_update'), fc.bigInt({ min: 0n, max: 2n ** 64n })),
    method: fc.string(),
    params: fc.array(fc.jsonValue()),
  }),
  { minLength: 1, maxLength: 8 },
);

test('frames split and merged at any byte boundary come out whole and in order', (t) => {
  fc.assert(
    fc.property(messages, fc.array(fc.nat(), { maxLength: 12 }), (msgs, cuts) => {
      const texts = msgs.map((m) => stringifyJson(m));
      const stream = Buffer.concat(texts.map(encodeFrame));
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      const decoder = new FrameDecoder();
      const out: string[] = [];
      let at = 0;
      for (const p of [...points, stream.length]) {
        out.push(...decoder.push(stream.subarray(at, p)));
        at = p;
      }
      t.deepEqual(out, texts);
      t.is(decoder.buffered, 0);
      t.deepEqual(
        out.map((o) => parseJson(o)),
        msgs.map((m) => parseJson(stringifyJson(m))),
      );
    }),
  );
});

test('multi-byte characters split across chunks are decoded intact', (t) => {
  const text = stringifyJson({ id: ['echo', 1], method: 'echo', params: ['ÿ→🌐'] });
  const bytes = encodeFrame(text);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new FrameDecoder();
    t.deepEqual([...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))], [text]);
  }
});

test('a frame over the limit is refused whether or not its NUL has arrived', (t) => {
  const d = new FrameDecoder(64);
  t.throws(() => d.push(Buffer.alloc(65, 0x61)), { instanceOf: FrameTooLargeError });
  const d2 = new FrameDecoder(64);
  d2.push(Buffer.alloc(40, 0x61));
  t.throws(() => d2.push(Buffer.alloc(30, 0x61)), { instanceOf: FrameTooLargeError });
  const d3 = new FrameDecoder(64);
  t.deepEqual(d3.push(Buffer.concat([Buffer.alloc(64, 0x61), Buffer.from([0])])), ['a'.repeat(64)]);
});

test('hostile JSON gets a syntax error, never a crash of the stack', (t) => {
  t.throws(() => parseJson('['.repeat(MaxJsonDepth + 5)), { instanceOf: JsonSyntaxError });
  t.throws(() => parseJson('{"id": [1,}'), { instanceOf: JsonSyntaxError });
  t.throws(() => parseJson('{"a":1} x'), { instanceOf: JsonSyntaxError });
  t.throws(() => parseJson('"\u0001"'), { instanceOf: JsonSyntaxError });
  t.throws(() => parseJson('-'), { instanceOf: JsonSyntaxError });
  const proto = parseJson('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
  t.deepEqual(Object.keys(proto), ['__proto__']);
  t.is(({} as Record<string, unknown>).polluted, undefined);
});

test('envelopes are told apart as libopflex does', (t) => {
  t.like(classifyEnvelope(parseJson('{"id":["echo",1],"method":"echo","params":[]}')), {
    kind: 'request',
    method: 'echo',
  });
  t.like(classifyEnvelope(parseJson('{"id":["echo",1],"result":{}}')), { kind: 'result' });
  t.like(classifyEnvelope(parseJson('{"id":["x",1],"error":{"code":"ERROR","message":"m"}}')), {
    kind: 'error',
    error: { code: 'ERROR', message: 'm' },
  });
  t.throws(() => classifyEnvelope(parseJson('[1]')), { instanceOf: ProtocolError });
  t.throws(() => classifyEnvelope(parseJson('{"method":"echo"}')), { instanceOf: ProtocolError });
  t.throws(() => classifyEnvelope(parseJson('{"id":null,"result":1}')), {
    instanceOf: ProtocolError,
  });
});

test('URIs are escaped as URIBuilder writes them', (t) => {
  t.is(escapeUriElement('kubernetes|kube-default'), 'kubernetes%7ckube-default');
  t.is(escapeUriElement('10.2.56.1/21'), '10.2.56.1%2f21');
  t.is(
    epGroupUri('kube', 'kubernetes|kube-default'),
    '/PolicyUniverse/PolicySpace/kube/GbpEpGroup/kubernetes%7ckube-default/',
  );
  t.is(
    platformConfigUri('comp/prov-Kubernetes/ctrlr-[testDom]-testDom/sw-InsiemeLSOid'),
    '/PolicyUniverse/PlatformConfig/comp%2fprov-Kubernetes%2fctrlr-%5btestDom%5d-testDom%2fsw-InsiemeLSOid/',
  );
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'grapheme' }), { minLength: 1, maxLength: 4 }), (els) =>
      t.deepEqual(
        uriElements(buildUri(...els)),
        els.filter((e) => e.length > 0),
      ),
    ),
  );
});
