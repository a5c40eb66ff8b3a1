/**
 * A view of the shared test cluster as if it held one test file's objects
 * only. Several controller test files run against one API server at once;
 * in production a controller serves the whole cluster, so the controller
 * has no notion of a scope, and each test's controller talks to the API
 * server through this proxy instead:
 *
 * - Nodes and Namespaces: lists and watches carry the file's scope label
 *   as an extra label selector, so the server filters them;
 * - objects in namespaces: lists and watches across all namespaces return
 *   only those in the file's namespaces;
 * - PodIPPools (named after their node): only those of the file's nodes.
 *
 * Everything else, and every write, passes through untouched, with the
 * caller's own credentials: RBAC is the controller's own.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ScopeView {
  /** `key=value` every Node and Namespace of the scope carries. */
  readonly label: string;
  /** Namespaces of the scope (objects in any other are hidden). */
  readonly namespaces: ReadonlySet<string>;
  /** Nodes of the scope, ever: a deleted node's PodIPPool stays visible for its controller to remove. */
  readonly nodes: ReadonlySet<string>;
}

export interface ScopeProxy {
  /** https://127.0.0.1:<port>, serving the API server's own certificate (so its CA verifies it). */
  readonly url: string;
  close(): Promise<void>;
}

interface Listed {
  metadata?: { name?: string; namespace?: string };
}

type Filter =
  { kind: 'labelled' } | { kind: 'objects'; keep: (o: Listed) => boolean } | { kind: 'none' };

/** What a GET of `path` needs: only reads of whole collections (lists and watches) are scoped. */
function filterFor(method: string, pathname: string, view: ScopeView): Filter {
  if (method !== 'GET') return { kind: 'none' };
  // /api/v1/<resource> or /apis/<group>/<version>/<resource>: a collection across namespaces.
  const parts = pathname.split('/').filter(Boolean);
  const resource =
    parts[0] === 'api' && parts.length === 3
      ? parts[2]
      : parts[0] === 'apis' && parts.length === 4
        ? parts[3]
        : undefined;
  if (resource === undefined) return { kind: 'none' };
  if (resource === 'nodes' || resource === 'namespaces') return { kind: 'labelled' };
  if (resource === 'podippools')
    return { kind: 'objects', keep: (o) => view.nodes.has(o.metadata?.name ?? '') };
  return {
    kind: 'objects',
    keep: (o) => o.metadata?.namespace === undefined || view.namespaces.has(o.metadata.namespace),
  };
}

function withLabel(search: URLSearchParams, label: string): URLSearchParams {
  const out = new URLSearchParams(search);
  const current = out.get('labelSelector');
  out.set('labelSelector', current ? `${current},${label}` : label);
  return out;
}

export async function startScopeProxy(options: {
  upstream: string;
  certFile: string;
  keyFile: string;
  caFile: string;
  view: ScopeView;
}): Promise<ScopeProxy> {
  const { view } = options;
  const upstream = new URL(options.upstream);
  const [cert, key, ca] = await Promise.all(
    [options.certFile, options.keyFile, options.caFile].map((f) => readFile(f, 'utf8')),
  );
  const agent = new https.Agent({ keepAlive: true, ca, maxSockets: 128 });

  const server = https.createServer({ cert, key }, (req, res) => {
    const url = new URL(req.url ?? '/', upstream);
    const filter = filterFor(req.method ?? 'GET', url.pathname, view);
    const search =
      filter.kind === 'labelled' ? withLabel(url.searchParams, view.label) : url.searchParams;
    const query = search.toString();
    const headers = { ...req.headers, host: upstream.host };
    const watching = search.get('watch') === '1' || search.get('watch') === 'true';
    const upstreamReq = https.request(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: `${url.pathname}${query ? `?${query}` : ''}`,
        headers,
        agent,
      },
      (upstreamRes) => relay(upstreamRes, res, filter, watching),
    );
    upstreamReq.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`scope proxy: ${String(error)}`);
    });
    // A watcher that goes away ends the upstream watch with it.
    res.on('close', () => upstreamReq.destroy());
    req.pipe(upstreamReq);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

function relay(
  from: http.IncomingMessage,
  to: http.ServerResponse,
  filter: Filter,
  watching: boolean,
): void {
  const status = from.statusCode ?? 502;
  if (filter.kind !== 'objects' || status !== 200) {
    to.writeHead(status, from.headers);
    from.pipe(to);
    return;
  }
  const { keep } = filter;
  // The body changes length: the rest of the headers stand, the length goes.
  const headers = { ...from.headers };
  delete headers['content-length'];
  to.writeHead(status, headers);
  from.setEncoding('utf8');
  if (watching) {
    // One JSON event a line; bookmarks and errors carry no namespaced object and pass.
    let buffered = '';
    from.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline + 1);
        buffered = buffered.slice(newline + 1);
        if (passesWatch(line, keep)) to.write(line);
      }
    });
    from.on('end', () => to.end(buffered));
    from.on('error', () => to.destroy());
    return;
  }
  let text = '';
  from.on('data', (chunk: string) => (text += chunk));
  from.on('end', () => to.end(filteredList(text, keep)));
  from.on('error', () => to.destroy());
}

/** A watch event line the scope keeps; bookmarks, errors and what is not JSON pass as they are. */
function passesWatch(line: string, keep: (o: Listed) => boolean): boolean {
  let event: { type?: string; object?: Listed };
  try {
    event = JSON.parse(line) as typeof event;
  } catch {
    return true;
  }
  if (event.type === 'BOOKMARK' || event.type === 'ERROR' || !event.object) return true;
  return keep(event.object);
}

function filteredList(text: string, keep: (o: Listed) => boolean): string {
  let list: { items?: Listed[] };
  try {
    list = JSON.parse(text) as typeof list;
  } catch {
    return text;
  }
  return list.items ? JSON.stringify({ ...list, items: list.items.filter(keep) }) : text;
}
