// What a web page may do with the service's HTTP and WebSocket listeners. The monitoring listener (the event feed,
// dead letters, nats-server's endpoints) sends no CORS header unless the page's origin is listed ([monitor]
// allowed_origins), and answers only Host names that cannot be rebound to it from outside (DNS rebinding); the
// WebSocket listener refuses an upgrade from an origin it does not trust ([websocket] same_origin, allowed_origins)
// with nats-server's 403, the same file run against nats-server for the WebSocket rules. Then in headless chromium:
// a page of another origin cannot read /events (fetch nor EventSource), a rebound name gets 403, a foreign page's
// WebSocket never opens, and a listed origin does read the feed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { connect, StringCodec } from 'nats';
import type { Browser, Page } from 'playwright-core';
import { startEventService } from '../src/embedded.js';
import { within } from '@event-broker/test-support/wait';
import { browserSkip, launchChromium } from './helpers/browser.js';
import { targets, type RunningTarget } from './helpers/targets.js';
import { tmpDir } from '@event-broker/test-support/tmp';

const sc = StringCodec();
type EventService = Awaited<ReturnType<typeof startEventService>>;
const event = (id: string) =>
  JSON.stringify({
    specversion: '1.0',
    id,
    source: '/origins-test',
    type: 'scanJobCreated',
    producer: { id: 'p1', name: 'tester', type: 'service' },
  });

/** The outcome of a WebSocket upgrade: 101, or the refusal's status and body. */
async function upgrade(
  port: number,
  origin: string | undefined,
): Promise<{ status: number; body: string; version?: string }> {
  return within(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, origin === undefined ? {} : { origin });
      ws.on('open', () => {
        ws.terminate();
        resolve({ status: 101, body: '' });
      });
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            version: res.headers['sec-websocket-version'] as string | undefined,
          }),
        );
        res.on('error', reject);
      });
      ws.on('error', reject);
    }),
    `upgrade with Origin ${origin}`,
  );
}

for (const target of targets()) {
  describe(`WebSocket Origin rules (${target.name})`, () => {
    describe('same_origin', () => {
      let server: RunningTarget;
      before(async () => {
        server = await target.start({ websocket: true, websocketSameOrigin: true });
      });
      after(() => server?.stop());

      it("a foreign page's origin is refused with 403 Forbidden; the listener's own origin and a program (no Origin) get in", async () => {
        const port = server.wsPort!;
        const refused = await upgrade(port, 'http://evil.example');
        assert.equal(refused.status, 403);
        assert.equal(refused.body, 'Forbidden\n');
        assert.equal(refused.version, '13');
        assert.equal((await upgrade(port, `http://127.0.0.1:${port}`)).status, 101, 'same host and port');
        assert.equal(
          (await upgrade(port, `https://127.0.0.1:${port}`)).status,
          101,
          'the scheme is not compared (nats-server)',
        );
        assert.equal(
          (await upgrade(port, `http://127.0.0.1:${port + 1}`)).status,
          403,
          'another port is another origin',
        );
        assert.equal((await upgrade(port, 'null')).status, 403, 'an opaque origin');
        assert.equal((await upgrade(port, undefined)).status, 101, 'no Origin: not a page');
      });
    });

    describe('allowed_origins', () => {
      let server: RunningTarget;
      before(async () => {
        // Distinct hosts: nats-server keeps one entry per host (websocket.go wsSetOriginOptions, a map by host), so
        // two entries for one host would leave only the last; ours keeps each.
        server = await target.start({
          websocket: true,
          websocketAllowedOrigins: ['http://app.example:8080', 'https://secure.example'],
        });
      });
      after(() => server?.stop());

      it('only a listed origin (scheme, host and port; the scheme default port when absent) gets in', async () => {
        const port = server.wsPort!;
        assert.equal((await upgrade(port, 'http://app.example:8080')).status, 101);
        assert.equal((await upgrade(port, 'https://SECURE.example:443')).status, 101, 'host case and the default port');
        assert.equal((await upgrade(port, 'http://app.example:8081')).status, 403);
        assert.equal((await upgrade(port, 'https://app.example:8080')).status, 403, 'the scheme counts here');
        assert.equal((await upgrade(port, 'http://secure.example')).status, 403, 'and here');
        assert.equal((await upgrade(port, 'http://evil.example')).status, 403);
        assert.equal((await upgrade(port, undefined)).status, 101);
      });
    });
  });
}

/** What the suites below started, closed once the file is done. */
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const f of cleanups.reverse()) await f();
});

/** A service with the handlers (one stored event) and monitoring; `monitor` adds settings to [monitor]. */
async function feedService(
  monitor: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Promise<EventService> {
  const dir = tmpDir({ after: (fn) => cleanups.push(fn) }, 'origins-');
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    monitor: { host: '127.0.0.1', port: 0, ...monitor },
    store: { path: path.join(dir, 'e.db') },
    log: { level: 'silent' },
    ...extra,
  } as never);
  cleanups.push(() => svc.close());
  const nc = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'connect');
  await within(nc.request('events.scanJobCreated', sc.encode(event('first')), { timeout: 5000 }), 'an event stored');
  await nc.close();
  return svc;
}

/** GET with the given headers; the SSE stream is read only up to its headers. */
function get(
  port: number,
  p: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: p, headers, agent: false }, (res) => {
        if (res.headers['content-type'] === 'text/event-stream') {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
          req.destroy();
          return;
        }
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
    }),
    `GET ${p}`,
  );
}

const READS = ['/events', '/events/stream', '/deadletters', '/varz', '/connz', '/healthz'];

describe('monitoring listener: CORS and Host', () => {
  let plain: EventService;
  before(async () => {
    plain = await feedService();
  });

  it('sends no Access-Control-Allow-Origin by default, to any origin, on any endpoint (the feed included)', async () => {
    for (const p of READS) {
      const res = await get(plain.monitorPort!, p, { origin: 'http://evil.example' });
      assert.equal(res.status, 200, p);
      assert.equal(res.headers['access-control-allow-origin'], undefined, `${p} has no CORS header`);
    }
  });

  it('echoes a listed origin (never *), with Vary: Origin, and nothing to an unlisted one', async () => {
    const listed = await feedService({ allowed_origins: ['http://dash.example:3000'] });
    for (const p of READS) {
      const ok = await get(listed.monitorPort!, p, { origin: 'http://dash.example:3000' });
      assert.equal(ok.headers['access-control-allow-origin'], 'http://dash.example:3000', p);
      assert.equal(ok.headers.vary, 'Origin', p);
      const other = await get(listed.monitorPort!, p, { origin: 'http://dash.example:3001' });
      assert.equal(other.headers['access-control-allow-origin'], undefined, p);
    }
  });

  it('refuses a Host name that could be rebound to it (403); answers IP literals, loopback names and listed names', async () => {
    const port = plain.monitorPort!;
    for (const p of ['/events', '/events/stream', '/deadletters', '/varz', '/']) {
      const res = await get(port, p, { host: `rebind.example:${port}` });
      assert.equal(res.status, 403, p);
      assert.match(res.body, /allowed_hosts/);
    }
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `app.localhost:${port}`,
      `[::1]:${port}`,
      '10.1.2.3',
      os.hostname(),
    ]) {
      assert.equal((await get(port, '/events', { host })).status, 200, host);
    }
    const listed = await feedService({ allowed_hosts: ['monitor.example', '.corp.example'] });
    const lp = listed.monitorPort!;
    for (const host of ['monitor.example', `MONITOR.example:${lp}`, 'corp.example', 'a.b.corp.example']) {
      assert.equal((await get(lp, '/events', { host })).status, 200, host);
    }
    for (const host of ['evil.monitor.example', 'notcorp.example'])
      assert.equal((await get(lp, '/events', { host })).status, 403, host);
  });
});

describe('a page of another origin in headless chromium', { skip: browserSkip('the browser origin test') }, () => {
  let svc: EventService;
  let pages: http.Server;
  let pagePort: number;
  let browser: Browser;
  let page: Page;

  before(async () => {
    // The other origins' pages: any path answers a blank page.
    pages = http.createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'),
    );
    await new Promise<void>((r) => pages.listen(0, '127.0.0.1', r));
    pagePort = (pages.address() as AddressInfo).port;
    svc = await feedService();
    // Names a page could use: evil.test (an attacker's page), rebind.test (the attacker's name once its DNS answer
    // moved to 127.0.0.1), dashboard.test (a listed dashboard). All resolve to loopback here.
    browser = await launchChromium([
      '--host-resolver-rules=MAP evil.test 127.0.0.1, MAP rebind.test 127.0.0.1, MAP dashboard.test 127.0.0.1',
    ]);
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    pages?.close();
  });

  /** Runs in the page: fetch `url`, report what the script could read. */
  const read = (url: string) =>
    page.evaluate(async (u) => {
      try {
        const res = await fetch(u);
        return `read ${res.status}: ${(await res.text()).slice(0, 200)}`;
      } catch (err) {
        return `blocked: ${String(err)}`;
      }
    }, url);

  it('cannot read /events or /deadletters with fetch, nor open /events/stream with EventSource', async () => {
    await page.goto(`http://evil.test:${pagePort}/`);
    const base = `http://127.0.0.1:${svc.monitorPort}`;
    for (const p of ['/events', '/deadletters', '/varz']) assert.match(await read(base + p), /^blocked/, p);
    const sse = await page.evaluate(
      (u) =>
        new Promise<string>((resolve) => {
          const es = new EventSource(u);
          es.onopen = () => resolve('open');
          es.onerror = () => resolve('error');
        }),
      `${base}/events/stream`,
    );
    assert.equal(sse, 'error');
  });

  it('a rebound name is refused: the page is 403 and its same-origin fetch of /events reads no event', async () => {
    const res = await page.goto(`http://rebind.test:${svc.monitorPort}/`);
    assert.equal(res?.status(), 403);
    const got = await read('/events');
    assert.match(got, /^read 403/);
    assert.doesNotMatch(got, /first/);
  });

  it("a foreign page's WebSocket never opens (same_origin)", async () => {
    const ws = await feedService({}, { websocket: { host: '127.0.0.1', port: 0, same_origin: true } });
    await page.goto(`http://evil.test:${pagePort}/`);
    const outcome = await page.evaluate(
      (u) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(u);
          ws.onopen = () => resolve('open');
          ws.onerror = () => resolve('error');
        }),
      `ws://127.0.0.1:${ws.websocketPort}`,
    );
    assert.equal(outcome, 'error');
  });

  it('a listed origin reads the feed', async () => {
    const listed = await feedService({ allowed_origins: [`http://dashboard.test:${pagePort}`] });
    await page.goto(`http://dashboard.test:${pagePort}/`);
    const got = await read(`http://127.0.0.1:${listed.monitorPort}/events`);
    assert.match(got, /^read 200/);
    assert.match(got, /"first"/);
  });
});
