// The status page at `/` on the monitoring port, looked at in a real browser: Debian's headless chromium (driven by
// playwright-core, which downloads nothing) loads it from a running service with [store] and two [handlers] sinks
// (one answering, one failing) while official `nats` clients make traffic, and the test reads what a person would
// see: the connection count, a message rate that rises with traffic and falls back when it stops, the limits in
// use, a row per sink, the latest events, and no script error. A screenshot goes to test-artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, StringCodec, type NatsConnection } from 'nats';
import type { Browser, Page } from 'playwright-core';
import { startEventService } from '../src/embedded.js';
import { eventually as readUntil, until, within } from '@event-broker/test-support/wait';
import { browserSkip, launchChromium } from './helpers/browser.js';
import { startReceiver } from '@event-broker/test-support/http';
import { tmpDir } from '@event-broker/test-support/tmp';

/** Waits on the page: a few poll intervals (the page polls every 250 ms here) with room for a loaded CI machine. */
const PAGE_WAIT_MS = 15_000;
const EVENT_LIMIT = 1000;
const LISTENER_LIMIT = 500;
const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../test-artifacts');

const skip = browserSkip('the status page browser test');

/** A webhook receiver answering every POST with `status`, closed in the suite's after(). */
const sink = (status: number) =>
  startReceiver(undefined, {
    path: '/hook',
    answer: (_n, res) =>
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'unavailable'),
  });

const sc = StringCodec();
const event = (type: string, id: string) =>
  JSON.stringify({
    specversion: '1.0',
    id,
    source: '/status-page-test',
    type,
    producer: { id: 'p-status', name: 'status-tester', type: 'service' },
    actor: { id: 'alice', object_type: 'user' },
  });

/** Polls `read` until `ok` holds for what it returned; fails naming `what` and the last value after `ms`. */
const eventually = <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = PAGE_WAIT_MS): Promise<T> =>
  readUntil(read, ok, what, ms);

describe('status page in headless chromium', { skip }, () => {
  const dir = tmpDir({ after }, 'status-page-');
  let svc: Awaited<ReturnType<typeof startEventService>>;
  let base: string;
  let okSink: Awaited<ReturnType<typeof sink>>;
  let badSink: Awaited<ReturnType<typeof sink>>;
  let publisher: NatsConnection;
  let subscriber: NatsConnection;
  let leaf: net.Socket;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const text = (selector: string) => page.locator(selector).first().innerText({ timeout: PAGE_WAIT_MS });
  const figure = async (selector: string) => Number((await text(selector)).replace(/[^0-9.]/g, ''));
  const json = async <T>(p: string): Promise<T> => {
    const res = await fetch(base + p, { signal: AbortSignal.timeout(5000) });
    return (await res.json()) as T;
  };

  before(async () => {
    okSink = await sink(200);
    badSink = await sink(503);
    svc = await startEventService({
      service: { host: '127.0.0.1', port: 0, event_limit: EVENT_LIMIT, listener_limit: LISTENER_LIMIT },
      monitor: { host: '127.0.0.1', port: 0 },
      leafnodes: { host: '127.0.0.1', port: 0 },
      store: { path: path.join(dir, 'events.db') },
      // event_feed takes every event and answers; feed (scanJob:*) keeps failing, so its events stay held.
      handlers: { event_feed: { url: okSink.url }, feed: { url: badSink.url, max_attempts: 1000 } } as never,
      log: { level: 'silent' },
    });
    base = `http://127.0.0.1:${svc.monitorPort}`;
    const url = `nats://127.0.0.1:${svc.port}`;
    publisher = await within(connect({ servers: url, name: 'status-publisher' }), 'publisher connects');
    subscriber = await within(connect({ servers: url, name: 'status-subscriber' }), 'subscriber connects');
    subscriber.subscribe('load.>');
    await within(subscriber.flush(), 'subscription registered');
    // A leaf link as the gateway's bridge makes one: CONNECT on the leafnode port, then one subscription.
    leaf = net.connect(svc.leafnodePort!, '127.0.0.1');
    leaf.on('error', () => {});
    let fromHub = '';
    leaf.on('data', (d: Buffer) => (fromHub += d.toString('latin1')));
    await within(new Promise((r) => leaf.once('connect', r)), 'the leaf connects');
    leaf.write(
      'CONNECT {"version":"2.9.10","server_id":"NGATEWAYBRIDGE","name":"event-gateway","headers":true}\r\nLS+ bridge.>\r\n',
    );
    await until(() => /LS\+ \$LDS\./.test(fromHub), 'the hub accepts the leaf (sends its interest)');
    for (let i = 0; i < 5; i++) {
      await within(
        publisher.request('events.scanJobCreated', sc.encode(event('scanJobCreated', `job-${i}`)), { timeout: 5000 }),
        `event job-${i} acknowledged`,
      );
    }
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.setDefaultTimeout(PAGE_WAIT_MS);
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()}`);
    });
    // A short poll interval keeps the test quick; the page defaults to one second.
    await page.goto(`${base}/?interval=250`, { waitUntil: 'load', timeout: PAGE_WAIT_MS });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    leaf?.destroy();
    await publisher?.close().catch(() => {});
    await subscriber?.close().catch(() => {});
    await svc?.close();
    okSink?.close();
    badSink?.close();
  });

  it('shows the open connection count /varz reports', async () => {
    await eventually(
      'the page shows /varz connections',
      async () => ({
        page: await text('#connections'),
        varz: (await json<{ connections: number }>('/varz')).connections,
      }),
      (v) => v.varz === 2 && v.page === '2',
    );
    // The busiest connections are listed by name.
    await eventually(
      'the publisher is listed',
      () => text('#conn-rows'),
      (s) => s.includes('status-publisher'),
    );
  });

  it('the message rate rises while traffic flows and falls back to zero when it stops', async () => {
    const seen = new Set<string>();
    const rateIn = async () => {
      const t = await text('#rate-in');
      seen.add(t);
      return t;
    };
    await eventually('an idle rate of 0', rateIn, (t) => t === '0');
    // 50 messages every 20 ms: about 2,500 msgs/s in, as many out to the subscriber.
    const load = setInterval(() => {
      for (let i = 0; i < 50; i++) publisher.publish('load.tick', sc.encode(String(i)));
    }, 20);
    try {
      await eventually(
        'a rate above 100 msgs/s while publishing',
        () => figure('#rate-in'),
        (n) => n > 100,
      );
      await rateIn();
      await eventually(
        'an outbound rate above 100 msgs/s',
        () => figure('#rate-out'),
        (n) => n > 100,
      );
      // The chart has drawn a line from the samples.
      const points = await page.locator('#chart-in').getAttribute('points');
      assert.ok(points !== null && points.split(' ').length >= 2, `the chart has a line (points: ${points})`);
    } finally {
      clearInterval(load);
    }
    await within(publisher.flush(), 'publisher flushed');
    await eventually('the rate back to 0 after the traffic stopped', rateIn, (t) => t === '0');
    assert.ok(seen.size >= 3, `the figure changed as traffic flowed (seen: ${[...seen].join(', ')})`);
    const chartTitle = await page.locator('#chart-title').textContent();
    assert.match(chartTitle ?? '', /Messages per second over the last \d+ samples/);
  });

  it('shows the limits in use: events held against event_limit, listeners against listener_limit', async () => {
    // The failing sink holds all five events; the answering one has them all.
    await eventually(
      'events held / event_limit',
      () => text('#limit-events'),
      (s) => s.startsWith(`5 / ${EVENT_LIMIT.toLocaleString('en')}`),
    );
    const varz = await json<{ subscriptions: number; listener_limit: number; system_subscriptions: number }>('/varz');
    assert.equal(varz.listener_limit, LISTENER_LIMIT);
    // The handlers' own subscriptions are shown apart, never as a user's listeners.
    assert.ok(varz.system_subscriptions >= 2, `system subscriptions ${varz.system_subscriptions}`);
    await eventually(
      "the service's own subscriptions shown apart",
      () => text('#listeners-note'),
      (s) => s.includes(`holds ${varz.system_subscriptions} more, not counted`),
    );
    await eventually(
      'listeners / listener_limit as /varz says',
      () => text('#limit-listeners'),
      (s) => s.startsWith(`${varz.subscriptions} / ${LISTENER_LIMIT}`),
    );
    assert.equal(await page.locator('#bar-events').getAttribute('aria-valuenow'), '1', 'the bar says 0.5% rounded');
  });

  it('shows a row per handler sink with its health, backlog and last error', async () => {
    const ok = page.locator('tr[data-sink="event_feed"]');
    const bad = page.locator('tr[data-sink="feed"]');
    await eventually(
      'event_feed delivered all five and is healthy',
      () => ok.innerText(),
      (s) => /\bok\b/.test(s) && /\t0\t0\t5\t/.test(s),
    );
    await eventually(
      'feed is retrying with its backlog and last error',
      () => bad.innerText(),
      (s) => /retrying/.test(s) && /\t5\t0\t0\t/.test(s) && /HTTP 503/.test(s),
    );
    assert.ok(okSink.got.length >= 5 && badSink.got.length >= 1);
    // What the page read: /handlerz, ours, says the same.
    const h = await json<{ handlers: { held: number; sinks: { name: string; backlog: number; health: string }[] } }>(
      '/handlerz',
    );
    assert.equal(h.handlers.held, 5);
    assert.deepEqual(
      h.handlers.sinks.map((s) => [s.name, s.backlog, s.health]),
      [
        ['feed', 5, 'retrying'],
        ['event_feed', 0, 'ok'],
      ],
    );
  });

  it("shows the leafnode listener and the gateway's link on it", async () => {
    await eventually(
      'the leafnode listener',
      () => text('#leaf-summary'),
      (s) => s.includes(`Listening on 127.0.0.1:${svc.leafnodePort}`) && s.includes('1 link up'),
    );
    const row = await eventually(
      'the link row',
      () => text('#leaf-rows tr'),
      (s) => s.includes('event-gateway'),
    );
    assert.match(row, /connected/);
    assert.match(row, /\t1$/, 'its one subscription');
  });

  it('lists the most recent events newest first and links the JSON endpoints', async () => {
    const rows = await eventually(
      'five events listed',
      () => page.locator('#event-rows tr').allInnerTexts(),
      (r) => r.length === 5,
    );
    assert.match(rows[0]!, /job-4/);
    assert.match(rows[4]!, /job-0/);
    assert.match(rows[0]!, /scanJobCreated/);
    assert.match(rows[0]!, /status-tester/);
    for (const p of ['varz', 'connz', 'subsz', 'leafz', 'healthz', 'metrics', 'handlerz']) {
      assert.equal(await page.locator(`footer a[href="./${p}"]`).count(), 1, `a link to /${p}`);
    }
    assert.equal(await text('#health'), 'ok');
    assert.equal(await page.locator('#problem').innerText(), '', 'no endpoint failed to answer');
  });

  it('renders without a script error, and a screenshot is saved while traffic flows', async () => {
    // Uneven load (bursts of 10 to 60 messages) so the saved chart shows a line that moves.
    let n = 0;
    const load = setInterval(() => {
      const burst = 10 + 10 * (n++ % 6);
      for (let i = 0; i < burst; i++) publisher.publish('load.tick', sc.encode(String(i)));
    }, 20);
    try {
      await eventually(
        'traffic on the page again',
        () => figure('#rate-in'),
        (r) => r > 100,
      );
      // A few seconds of samples in the chart.
      await eventually(
        'a dozen samples charted',
        async () => (await page.locator('#chart-in').getAttribute('points'))?.split(' ').length ?? 0,
        (k) => k >= 12,
      );
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'status-page.png'), fullPage: true, timeout: PAGE_WAIT_MS });
    } finally {
      clearInterval(load);
    }
    assert.deepEqual(pageErrors, []);
    // Every card fits the window: nothing spills sideways at 1280 px.
    const overflow = await page.evaluate(() => {
      const doc = (
        globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
      ).document;
      return doc.documentElement.scrollWidth - doc.documentElement.clientWidth;
    });
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than the window`);
  });
});

// /handlerz itself, browser or not: what the page reads when the service runs without handlers or leafnodes.
describe('/handlerz without [store], [handlers] or [leafnodes]', () => {
  it('says so with nulls, and / still serves the page linking it', async (t) => {
    const svc = await startEventService({
      service: { host: '127.0.0.1', port: 0, event_limit: 42 },
      monitor: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const base = `http://127.0.0.1:${svc.monitorPort}`;
    const res = await fetch(`${base}/handlerz`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['event_limit', 'handlers', 'leafnodes', 'now', 'server_id']);
    assert.equal(body.handlers, null);
    assert.equal(body.leafnodes, null);
    assert.equal(body.event_limit, 42);
    const page = await fetch(`${base}/`, { signal: AbortSignal.timeout(5000) });
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await page.text();
    for (const p of ['varz', 'connz', 'subsz', 'leafz', 'healthz', 'metrics', 'handlerz'])
      assert.ok(html.includes(`href="./${p}"`), `links /${p}`);
    assert.doesNotMatch(
      html,
      /<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3\.org)/,
      'nothing fetched from elsewhere',
    );
  });
});
