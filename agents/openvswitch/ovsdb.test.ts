/**
 * OvsdbClient against a scripted JSON-RPC peer on a unix socket: framing of
 * concatenated and split messages, echo keep-alive, errors, monitor updates.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { OvsdbClient, type TableUpdates, ovsAtoms, ovsMapToRecord, ovsScalar } from './ovsdb.ts';

interface Request {
  id: number | string;
  method: string;
  params: unknown[];
}

async function withPeer(
  onRequest: (req: Request, sock: net.Socket) => void,
  fn: (db: OvsdbClient, received: unknown[]) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ovsdb-'));
  const sockPath = path.join(dir, 'db.sock');
  const received: unknown[] = [];
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      // The client writes one JSON object per request; tests keep requests small.
      for (const text of buf.split(/(?<=\})(?=\{)/)) {
        try {
          const msg = JSON.parse(text) as Request;
          received.push(msg);
          buf = '';
          if (msg.method) onRequest(msg, sock);
        } catch {
          buf = text;
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(sockPath, () => r()));
  const db = await OvsdbClient.connect(sockPath);
  try {
    await fn(db, received);
  } finally {
    db.close();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('transact resolves with results; replies split across writes and glued together are framed', async (t) => {
  await withPeer(
    (req, sock) => {
      const reply = JSON.stringify({
        id: req.id,
        result: [{ rows: [{ name: 'br-{int}"x' }] }],
        error: null,
      });
      sock.write(reply.slice(0, 10));
      setTimeout(
        () => sock.write(reply.slice(10) + JSON.stringify({ id: 999, result: null, error: null })),
        10,
      );
    },
    async (db) => {
      const [res] = await db.transact('Open_vSwitch', [
        { op: 'select', table: 'Bridge', where: [] },
      ]);
      t.deepEqual(res?.rows, [{ name: 'br-{int}"x' }]);
    },
  );
});

test('an operation error rejects the whole transaction', async (t) => {
  await withPeer(
    (req, sock) =>
      sock.write(
        JSON.stringify({
          id: req.id,
          result: [{}, { error: 'constraint violation', details: 'no' }],
          error: null,
        }),
      ),
    async (db) => {
      await t.throwsAsync(
        db.transact('Open_vSwitch', [
          { op: 'comment', comment: 'a' },
          { op: 'comment', comment: 'b' },
        ]),
        { message: /constraint violation/ },
      );
    },
  );
});

test('the server’s echo is answered and monitor updates are emitted', async (t) => {
  await withPeer(
    (req, sock) => {
      if (req.method === 'monitor') {
        sock.write(JSON.stringify({ id: req.id, result: {}, error: null }));
        sock.write(JSON.stringify({ id: 'echo', method: 'echo', params: [] }));
        sock.write(
          JSON.stringify({
            id: null,
            method: 'update',
            params: ['m', { Interface: { u1: { new: { name: 'p1', ofport: 3 } } } }],
          }),
        );
      }
    },
    async (db, received) => {
      const update = new Promise<TableUpdates>((resolve) =>
        db.once('update', (_id: unknown, u: TableUpdates) => resolve(u)),
      );
      await db.monitor('Open_vSwitch', 'm', { Interface: { columns: ['name', 'ofport'] } });
      t.deepEqual(await update, { Interface: { u1: { new: { name: 'p1', ofport: 3 } } } });
      await new Promise((r) => setTimeout(r, 20));
      t.true(
        received.some(
          (m) =>
            (m as { id?: unknown; result?: unknown }).id === 'echo' &&
            Array.isArray((m as { result?: unknown }).result),
        ),
      );
    },
  );
});

test('value helpers decode OVSDB sets and maps', (t) => {
  t.is(ovsScalar(['set', []]), undefined);
  t.is(ovsScalar(['set', [5]]), 5);
  t.deepEqual(ovsAtoms(['set', ['a', 'b']]), ['a', 'b']);
  t.deepEqual(ovsMapToRecord(['map', [['k', 'v']]]), { k: 'v' });
});
