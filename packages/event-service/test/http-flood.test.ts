// Floods of cheap HTTP requests on the monitoring listener (the event feed's port) against the service as a real
// process with 256 file descriptors: SSE streams past [monitor] max_streams and connections past max_connections get
// 503 (or are dropped at accept), so a NATS client still connects and an event request is still answered while the
// flood is on; every stream that was let in gets every event. The intake's request latency before and during the
// flood goes to the test's diagnostics (speed is the bench's business, not an assertion here). In this process: a
// stream whose reader stops reading falls behind without holding the others back, and catches up when it reads;
// streams with different filters, fed by one shared read, each get exactly what the same query returns from SQL.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { startEventService } from '../src/embedded.js';
import { logLine } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { cli } from './helpers/cli.js';

const sc = StringCodec();
/** Low enough that, before the caps, 300 SSE streams take every descriptor the process has. */
const MAX_OPEN_FILES = 256;
const FLOOD = 300;
/** [monitor] max_streams' default. */
const MAX_STREAMS = 64;
const WAIT_MS = 20_000;

let seq = 0;
const event = (tag: string, data: unknown = {}) =>
  JSON.stringify({
    specversion: '1.0',
    id: `${tag}-${process.pid}-${++seq}`,
    source: '/flood-test',
    type: 'scanJobCreated',
    producer: { id: 'p1', name: 'tester', type: 'service' },
    data,
  });

interface Stream {
  outcome: 'pending' | 'open' | '503' | 'closed';
  ids: string[];
  req: http.ClientRequest;
  res?: http.IncomingMessage;
}

/** Opens `n` SSE requests at once, each on its own connection. */
function openStreams(t: TestContext, port: number, n: number): Stream[] {
  return openStreamsAt(t, port, '/events/stream', n);
}

function openStreamsAt(t: TestContext, port: number, streamPath: string, n = 1): Stream[] {
  const out: Stream[] = [];
  for (let i = 0; i < n; i++) {
    const req = http.get({ host: '127.0.0.1', port, path: streamPath, agent: false });
    const s: Stream = { outcome: 'pending', ids: [], req };
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        s.outcome = res.statusCode === 503 ? '503' : 'closed';
        res.resume();
        return;
      }
      s.outcome = 'open';
      s.res = res;
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n\n');
        buf = parts.pop()!;
        for (const p of parts) {
          const m = /^id: (\d+)$/m.exec(p);
          if (m) s.ids.push(m[1]!);
        }
      });
      res.on('error', () => {});
      res.on('close', () => {
        if (s.outcome === 'open') s.outcome = 'closed';
      });
    });
    req.on('error', () => {
      if (s.outcome === 'pending' || s.outcome === 'open') s.outcome = 'closed';
    });
    out.push(s);
  }
  t.after(() => out.forEach((s) => s.req.destroy()));
  return out;
}

const count = (streams: Stream[], o: Stream['outcome']) => streams.filter((s) => s.outcome === o).length;

/** Sequential event requests: their latencies (ms), sorted. */
async function requestLatencies(nc: NatsConnection, n: number, tag: string): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    const reply = await nc.request('events.scanJobCreated', sc.encode(event(tag)), { timeout: 10_000 });
    lat.push(performance.now() - start);
    assert.match(sc.decode(reply.data), /^\{"id":/, 'the event was stored');
  }
  return lat.sort((a, b) => a - b);
}

const summary = (lat: number[]) =>
  `p50 ${lat[lat.length >> 1]!.toFixed(2)} ms, p90 ${lat[Math.floor(lat.length * 0.9)]!.toFixed(2)} ms, ${Math.round((lat.length / lat.reduce((a, b) => a + b, 0)) * 1000)} requests/s`;

/** The service CLI with a store and monitoring, limited to MAX_OPEN_FILES descriptors. */
async function limitedService(t: TestContext): Promise<{ natsUrl: string; monitorPort: number }> {
  const dir = tmpDir(t);
  const config = write(dir, 'service.toml', [
    '[service]',
    'host = "127.0.0.1"',
    'port = 0',
    '[monitor]',
    'port = 0',
    '[store]',
    `path = ${JSON.stringify(path.join(dir, 'events.db'))}`,
    '[log]',
    'format = "json"',
  ]);
  const run = cli(t, ['--config', config], dir, { maxOpenFiles: MAX_OPEN_FILES });
  const client = await logLine(run, 'listening for client connections');
  const monitor = await logLine(run, 'monitoring listener started');
  return { natsUrl: `127.0.0.1:${client.port as number}`, monitorPort: monitor.port as number };
}

async function natsClient(t: TestContext, url: string, what: string): Promise<NatsConnection> {
  const nc = await within(connect({ servers: url, reconnect: false, timeout: 5000 }), what, 8000);
  t.after(() => nc.close());
  return nc;
}

test(`${FLOOD} SSE streams against ${MAX_OPEN_FILES} descriptors: the streams past max_streams get 503, NATS clients still connect and events are answered`, async (t) => {
  const svc = await limitedService(t);
  const first = await natsClient(t, svc.natsUrl, 'a client before the flood');
  t.diagnostic(`intake before the flood: ${summary(await requestLatencies(first, 50, 'before'))}`);

  const streams = openStreams(t, svc.monitorPort, FLOOD);
  await until(
    () => count(streams, 'pending') === 0,
    'every stream request answered, refused or closed',
    WAIT_MS,
    () => `${count(streams, 'pending')} pending`,
  );
  t.diagnostic(
    `${count(streams, 'open')} open, ${count(streams, '503')} refused with 503, ${count(streams, 'closed')} closed at accept`,
  );
  // While the streams are open: a new NATS client connects, and its event requests are answered.
  const late = await natsClient(t, svc.natsUrl, 'a client during the flood');
  const during = await requestLatencies(late, 50, 'during');
  t.diagnostic(`intake with ${count(streams, 'open')} streams open: ${summary(during)}`);
  assert.equal(count(streams, 'open'), MAX_STREAMS, 'exactly max_streams streams are open');
  assert.ok(count(streams, '503') > 0, 'those past the caps are told 503');
  // Every stream let in gets every one of those events.
  const open = streams.filter((s) => s.outcome === 'open');
  await until(
    () => open.every((s) => s.ids.length >= 50),
    'every open stream got the 50 events',
    WAIT_MS,
    () => `least: ${Math.min(...open.map((s) => s.ids.length))}`,
  );
  for (const s of open) assert.equal(new Set(s.ids).size, s.ids.length, 'no event twice');
});

test(`${FLOOD} keep-alive HTTP connections against ${MAX_OPEN_FILES} descriptors: at most max_connections are served, the next are told 503, NATS clients still connect`, async (t) => {
  const svc = await limitedService(t);
  // Each asks once and keeps its connection open (keep-alive), as a scraper or a page would.
  const outcomes: ('pending' | number | 'closed')[] = [];
  const socks: net.Socket[] = [];
  for (let i = 0; i < FLOOD; i++) {
    const s = net.connect(svc.monitorPort, '127.0.0.1');
    outcomes.push('pending');
    let input = '';
    s.on('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n'));
    s.on('data', (d: Buffer) => {
      input += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(input);
      if (m && outcomes[i] === 'pending') outcomes[i] = Number(m[1]);
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (outcomes[i] === 'pending') outcomes[i] = 'closed';
    });
    socks.push(s);
  }
  t.after(() => socks.forEach((s) => s.destroy()));
  await until(
    () => !outcomes.includes('pending'),
    'every connection answered or closed',
    WAIT_MS,
    () => `${outcomes.filter((o) => o === 'pending').length} pending`,
  );
  const served = outcomes.filter((o) => o === 200).length;
  const busy = outcomes.filter((o) => o === 503).length;
  t.diagnostic(
    `${served} answered 200, ${busy} told 503, ${outcomes.filter((o) => o === 'closed').length} closed at accept`,
  );
  // The served ones are still open (keep-alive): the NATS listener still has descriptors.
  const nc = await natsClient(t, svc.natsUrl, 'a client during the flood');
  await requestLatencies(nc, 5, 'http-flood');
  assert.ok(served <= 128, `at most max_connections (128) served, got ${served}`);
  assert.ok(busy > 0, 'the connections past the cap are told 503');
});

test('a stream whose reader stops reading falls behind without holding the others back, and catches up when it reads again', async (t) => {
  const dir = tmpDir(t);
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    monitor: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(dir, 'e.db') },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await natsClient(t, `127.0.0.1:${svc.port}`, 'connect');
  const [fast, slow] = openStreams(t, svc.monitorPort!, 2);
  await until(() => fast!.outcome === 'open' && slow!.outcome === 'open', 'both streams open');
  // Stop reading the slow one: its socket buffers fill once a few MB are sent.
  const slowRes = slow!.res!;
  slowRes.pause();
  const N = 400;
  const big = 'x'.repeat(16 * 1024);
  for (let i = 0; i < N - 1; i++) nc.publish('events.scanJobCreated', sc.encode(event('bulk', { big })));
  await within(
    nc.request('events.scanJobCreated', sc.encode(event('bulk', { big })), { timeout: 20_000 }),
    'the last event stored',
    25_000,
  );
  await until(
    () => fast!.ids.length === N,
    'the fast reader got every event while the slow one was paused',
    WAIT_MS,
    () => `fast ${fast!.ids.length}, slow ${slow!.ids.length}`,
  );
  assert.ok(slow!.ids.length < N, `the slow reader is behind (${slow!.ids.length})`);
  slowRes.resume();
  await until(
    () => slow!.ids.length === N,
    'the slow reader caught up',
    WAIT_MS,
    () => `slow ${slow!.ids.length}`,
  );
  assert.deepEqual(slow!.ids, fast!.ids, 'the same events, in the same order, none twice');
});

test('streams with different filters share one read and each gets exactly what the same query over HTTP returns', async (t) => {
  const dir = tmpDir(t);
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    monitor: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(dir, 'e.db') },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await natsClient(t, `127.0.0.1:${svc.port}`, 'connect');
  const base = `http://127.0.0.1:${svc.monitorPort}`;
  await within(
    nc.request('events.scanJobCreated', sc.encode(event('old')), { timeout: 5000 }),
    'an event before the streams',
  );
  const { next_cursor: start } = (await (await fetch(`${base}/events?limit=1000`)).json()) as { next_cursor: string };
  // The last resumes from the start: it reads its own pages, then joins the others.
  const filters: Record<string, string>[] = [
    {},
    { type: 'cfgingest' },
    { producer: 'p2' },
    { actor: 'alice' },
    { type: 'scanJobCreated', producer: 'p1' },
    // Who published: the network client (unauthenticated) or the service itself (in-process).
    { authtype: 'system' },
    { authid: 'in-process', type: 'cfgingest' },
    { authtype: 'unauthenticated', actor: 'alice' },
    { cursor: '0' },
  ];
  const streams = filters.map(
    (f) => openStreamsAt(t, svc.monitorPort!, `/events/stream?${new URLSearchParams(f)}`)[0]!,
  );
  await until(() => streams.every((s) => s.outcome === 'open'), 'every stream open');
  const kinds = [
    { type: 'scanJobCreated', producer: 'p1', actor: 'alice' },
    { type: 'cfgingest', producer: 'p2', actor: 'bob' },
    { type: 'scanJobCreated', producer: 'p2' },
    { type: 'cfgingest', producer: 'p1', actor: 'alice' },
  ];
  for (let i = 0; i < 40; i++) {
    const k = kinds[i % kinds.length]!;
    const body = JSON.stringify({
      specversion: '1.0',
      id: `mix-${process.pid}-${i}`,
      source: '/flood-test',
      type: k.type,
      producer: { id: k.producer, name: 'tester', type: 'service' },
      ...(k.actor !== undefined && { actor: { id: k.actor, object_type: 'user' } }),
    });
    // Some as requests (a commit each), some in bursts (several per commit), some in-process.
    if (i % 5 === 1) svc.publish(`events.${k.type}`, body);
    else if (i % 3 === 0) await nc.request(`events.${k.type}`, sc.encode(body), { timeout: 5000 });
    else nc.publish(`events.${k.type}`, sc.encode(body));
  }
  await nc.request('events.scanJobCreated', sc.encode(event('last')), { timeout: 5000 });
  for (let i = 0; i < filters.length; i++) {
    const q = new URLSearchParams({ cursor: start, ...filters[i], limit: '1000' });
    const page = (await (await fetch(`${base}/events?${q}`)).json()) as { events: { seq: number }[] };
    const want = page.events.map((e) => String(e.seq));
    await until(
      () => streams[i]!.ids.length >= want.length,
      `stream ${q} got ${want.length}`,
      WAIT_MS,
      () => `got ${streams[i]!.ids.length}`,
    );
    assert.deepEqual(streams[i]!.ids, want, `stream ${q}`);
  }
});
