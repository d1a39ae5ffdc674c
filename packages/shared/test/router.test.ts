// The router the monitoring listener and the event service's APIs share (http/router.ts), behind a real node:http
// server: a route by method and path, 405 with every method the path takes, an API's own 404 only when no route
// matched the path, mounted routers asked first (and skipped while absent), parameters as sent, HEAD without a body,
// a thrown error mapped until the head is out, and a stream route admitted before it runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { Router, jsonResponse, textResponse, type ServeOptions } from '../src/http/router.js';

async function serve(t: { after(fn: () => unknown): void }, router: Router, opts: ServeOptions = {}): Promise<string> {
  const server = http.createServer((req, res) => {
    router
      .serve(req, res, new URL(req.url ?? '/', 'http://test'), opts)
      .then((took) => {
        if (!took) res.writeHead(599).end('unrouted');
      })
      .catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(`thrown: ${(err as Error).message}`);
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

async function call(
  base: string,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; allow: string | null; type: string | null; length: string | null; body: string }> {
  const res = await fetch(base + path, { ...init, signal: AbortSignal.timeout(5000) });
  return {
    status: res.status,
    allow: res.headers.get('allow'),
    type: res.headers.get('content-type'),
    length: res.headers.get('content-length'),
    body: await res.text(),
  };
}

test('a route answers its method and path; the path with another method is 405 naming every method it takes', async (t) => {
  const router = new Router()
    .get(['/items', '/items/'], () => jsonResponse(200, { list: true }))
    .get('/items/:id', ({ params }) => textResponse(200, 'text/plain', `get ${params.id}`))
    .post('/items/:id', ({ params }) => textResponse(201, 'text/plain', `post ${params.id}`));
  const base = await serve(t, router);
  assert.deepEqual(JSON.parse((await call(base, '/items')).body), { list: true });
  assert.equal((await call(base, '/items/')).status, 200);
  assert.equal((await call(base, '/items/a%20b')).body, 'get a%20b', "parameters as sent: decoding is the route's");
  assert.equal((await call(base, '/items/x', { method: 'POST' })).body, 'post x');
  const put = await call(base, '/items/x', { method: 'PUT' });
  assert.deepEqual([put.status, put.allow, put.body], [405, 'GET, HEAD, POST', 'method not allowed\n']);
  assert.equal((await call(base, '/items', { method: 'DELETE' })).allow, 'GET, HEAD');
  assert.equal((await call(base, '/items/x/y')).status, 599, 'a parameter is one segment; nothing else matched');
});

test('HEAD is GET without the body, with its length', async (t) => {
  const base = await serve(
    t,
    new Router().get('/x', () => textResponse(200, 'text/plain', 'twelve bytes')),
  );
  const head = await call(base, '/x', { method: 'HEAD' });
  assert.deepEqual([head.status, head.type, head.length, head.body], [200, 'text/plain', '12', '']);
});

test('a rest parameter takes the remaining path; a fallback answers only paths no route matched', async (t) => {
  const router = new Router()
    .get('/files/*path', ({ params }) => textResponse(200, 'text/plain', params.path!))
    .post('/jobs/:id/run', () => textResponse(200, 'text/plain', 'ran'))
    .otherwise('/jobs/*rest', () => jsonResponse(404, { error: 'no such job path' }))
    .otherwise(({ req }) => textResponse(404, 'text/plain', `nothing at ${req.url}`));
  const base = await serve(t, router);
  assert.equal((await call(base, '/files/a/b//c')).body, 'a/b//c');
  assert.equal((await call(base, '/files/')).body, 'nothing at /files/', 'a rest parameter is never empty');
  assert.equal((await call(base, '/jobs/7/run')).status, 405, 'the route matched the path: 405, not the fallback');
  assert.deepEqual(JSON.parse((await call(base, '/jobs/7/other', { method: 'PUT' })).body), {
    error: 'no such job path',
  });
  assert.equal((await call(base, '/else')).body, 'nothing at /else');
  assert.throws(() => new Router().get('/a/*rest/b', () => undefined), /must be the last segment/);
});

test('a mounted router is asked first, per request, and skipped while absent', async (t) => {
  let mounted: Router | undefined;
  const router = new Router()
    .use(() => mounted)
    .get('/a', () => textResponse(200, 'text/plain', 'outer a'))
    .otherwise(() => textResponse(404, 'text/plain', 'outer 404'));
  const base = await serve(t, router);
  assert.equal((await call(base, '/b')).body, 'outer 404');
  mounted = new Router()
    .get('/a', () => textResponse(200, 'text/plain', 'inner a'))
    .get('/b', () => textResponse(200, 'text/plain', 'inner b'));
  assert.equal((await call(base, '/a')).body, 'inner a');
  assert.equal((await call(base, '/b')).body, 'inner b');
  assert.equal((await call(base, '/b', { method: 'POST' })).allow, 'GET, HEAD', "the mounted router's 405");
  mounted = undefined;
  assert.equal((await call(base, '/a')).body, 'outer a');
});

test("a thrown error is answered by the router's mapper, or left to the caller, and never once the head is out", async (t) => {
  const router = new Router({
    errors: (err) => ((err as Error).message === 'bad' ? textResponse(400, 'text/plain', 'mapped') : undefined),
  })
    .get('/bad', () => {
      throw new Error('bad');
    })
    .get('/other', async () => {
      throw new Error('other');
    })
    .get('/late', ({ res }) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started ');
      throw new Error('bad');
    });
  const base = await serve(t, router);
  assert.deepEqual(await call(base, '/bad').then((r) => [r.status, r.body]), [400, 'mapped']);
  assert.deepEqual(await call(base, '/other').then((r) => [r.status, r.body]), [500, 'thrown: other']);
  assert.deepEqual(await call(base, '/late').then((r) => [r.status, r.body]), [200, 'started thrown: bad']);
});

test('a stream route runs only once admitted; a refused one is answered by the admitter', async (t) => {
  let admit = false;
  const router = new Router()
    .get(
      '/stream',
      ({ res }) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' }).end(': open\n\n');
        return undefined;
      },
      { stream: true },
    )
    .get('/plain', () => textResponse(200, 'text/plain', 'plain'));
  const admitted: string[] = [];
  const base = await serve(t, router, {
    admitStream: (res) => {
      admitted.push(res.req.url ?? '');
      if (!admit) res.writeHead(503).end('busy');
      return admit;
    },
  });
  assert.deepEqual(await call(base, '/stream').then((r) => [r.status, r.body]), [503, 'busy']);
  admit = true;
  assert.deepEqual(await call(base, '/stream').then((r) => [r.status, r.body]), [200, ': open\n\n']);
  assert.equal((await call(base, '/plain')).body, 'plain');
  assert.deepEqual(admitted, ['/stream', '/stream'], 'only stream routes are admitted');
  assert.equal(
    (await call(base, '/stream', { method: 'POST' })).status,
    405,
    'a wrong method is refused before admission',
  );
  assert.equal(admitted.length, 2);
});
