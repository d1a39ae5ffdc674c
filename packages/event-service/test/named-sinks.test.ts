// [sinks.NAME] end to end: named sinks beside the handlers, each routed by its filter's includes minus its "!"
// exclusions and by its match lists (producer, tags, projects, the verified authid), delivered, reported by
// /handlerz and /metrics, dead-lettered and replayed over /deadletters; removed by a SIGHUP and added back, when what
// was pending for it goes out. Real service (in process, and the CLI for SIGHUP), official `nats` client, node:http
// receivers. Events that must not arrive are checked once a later marker event that must has arrived (one POST at
// a time per sink keeps each sink's order).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { startEventService } from '../src/embedded.js';
import { logLine, signal } from '@event-broker/test-support/child';
import { type Receiver, startReceiver } from '@event-broker/test-support/http';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { eventually, until, within } from '@event-broker/test-support/wait';
import { startCli } from './helpers/cli.js';
import { startGrpcReceiver } from './helpers/grpc-receiver.js';

const HOST = '127.0.0.1';
/** Generous: the machine is shared with the rest of the suite. */
const WAIT_MS = 20_000;
const sc = StringCodec();

const ok = (t: TestContext) => startReceiver(t, { status: () => 204 });
/** The event ids a receiver accepted, in order. */
const idsOf = (r: Receiver) => r.got.filter((g) => g.status === 204).map((g) => g.id);

function event(type: string, id: string, extra: object = {}): string {
  return JSON.stringify({ specversion: '1.0', id, source: '/named-sinks-test', type, ...extra });
}

async function publish(nc: NatsConnection, type: string, id: string, extra: object = {}): Promise<void> {
  const reply = await nc.request(`events.${type}`, sc.encode(event(type, id, extra)), { timeout: WAIT_MS });
  assert.equal((JSON.parse(sc.decode(reply.data)) as { id: string }).id, id, `${id} acknowledged`);
}

test('named sinks: exclusions and each matcher route right; /handlerz and /metrics report them', async (t) => {
  const r = {
    all: await ok(t),
    noProfiles: await ok(t),
    scans: await ok(t),
    byProducer: await ok(t),
    byTag: await ok(t),
    byProject: await ok(t),
    byAuth: await ok(t),
  };
  const svc = await startEventService({
    service: {
      host: HOST,
      port: 0,
      users: [
        { user: 'alice', password: 'alice-pw' },
        { user: 'bob', password: 'bob-pw' },
      ],
    },
    monitor: { host: HOST, port: 0 },
    store: { path: path.join(tmpDir(t), 'events.db') },
    sinks: {
      all: r.all.url,
      noProfiles: { url: r.noProfiles.url, filter: ['!profile:*'] },
      scans: { url: r.scans.url, filter: ['scanJob:*', '!scanJob:deleted'] },
      byProducer: { url: r.byProducer.url, match: { producer: ['p1'] } },
      byTag: { url: r.byTag.url, match: { tags: ['pci'] } },
      byProject: { url: r.byProject.url, match: { projects: ['prj'] } },
      byAuth: { url: r.byAuth.url, match: { authid: ['alice'] } },
    } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const as = async (user: string) => {
    const nc = await connect({ servers: `${HOST}:${svc.port}`, user, pass: `${user}-pw`, reconnect: false });
    t.after(() => nc.close());
    return nc;
  };
  const alice = await as('alice');
  const bob = await as('bob');
  const p = (id: string) => ({ id, name: 'producer', type: 'service' });

  await publish(bob, 'profileCreated', 'e1', { producer: p('p2') });
  // Claims to be alice: the authid is the verified one (bob), so byAuth must not get it.
  await publish(bob, 'scanJobDeleted', 'e2', { producer: p('p2'), tags: ['other'], authid: 'alice' });
  await publish(alice, 'nodeTerminated', 'e3', { producer: p('p2'), tags: ['other'], projects: ['nope'] });
  await publish(alice, 'scanJobCreated', 'marker', { producer: p('p1'), tags: ['x', 'pci'], projects: ['prj'] });

  const want: Record<keyof typeof r, string[]> = {
    all: ['e1', 'e2', 'e3', 'marker'],
    noProfiles: ['e2', 'e3', 'marker'],
    scans: ['marker'],
    byProducer: ['marker'],
    byTag: ['marker'],
    byProject: ['marker'],
    byAuth: ['e3', 'marker'],
  };
  for (const [name, rec] of Object.entries(r))
    await until(() => idsOf(rec).includes('marker'), `${name} got the marker`, WAIT_MS);
  for (const [name, rec] of Object.entries(r)) assert.deepEqual(idsOf(rec), want[name as keyof typeof r], name);

  const base = `http://${HOST}:${svc.monitorPort}`;
  type Handlerz = { handlers: { sinks: { name: string; delivered: number }[] } };
  const counts = Object.fromEntries(Object.entries(want).map(([k, v]) => [k, v.length]));
  const delivered = await eventually(
    async () => {
      const h = (await (await within(fetch(`${base}/handlerz`), 'GET /handlerz')).json()) as Handlerz;
      return Object.fromEntries(h.handlers.sinks.map((s) => [s.name, s.delivered]));
    },
    (d) => Object.entries(counts).every(([k, n]) => d[k] === n),
    '/handlerz counts the deliveries',
  );
  assert.deepEqual(delivered, counts);
  const metrics = await (await within(fetch(`${base}/metrics`), 'GET /metrics')).text();
  assert.match(metrics, /handler_deliveries_total\{sink="byAuth"\} 2/);
});

test('a named sink dead-letters, and /deadletters replays it to its receiver', async (t) => {
  let status = 500;
  const rec = await startReceiver(t, { status: () => status });
  const svc = await startEventService({
    service: { host: HOST, port: 0 },
    monitor: { host: HOST, port: 0 },
    store: { path: path.join(tmpDir(t), 'events.db') },
    sinks: { audit: { url: rec.url, max_attempts: 1 } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const base = `http://${HOST}:${svc.monitorPort}`;
  await svc.request('events.nodeTerminated', event('nodeTerminated', 'd1'));
  const dead = await eventually(
    async () =>
      (
        (await (await within(fetch(`${base}/deadletters?sink=audit`), 'GET /deadletters')).json()) as {
          deadletters: { sink: string; id: string }[];
        }
      ).deadletters,
    (d) => d.length === 1,
    'dead-lettered',
  );
  assert.deepEqual(
    dead.map((d) => [d.sink, d.id]),
    [['audit', 'd1']],
  );
  status = 204;
  const res = await within(
    fetch(`${base}/deadletters/audit/replay`, { method: 'POST', headers: { 'content-type': 'application/json' } }),
    'POST replay',
  );
  assert.equal(res.status, 200, await res.text());
  await until(() => idsOf(rec).includes('d1'), 'replayed and delivered', WAIT_MS);
});

test('SIGHUP removes a named sink and adds it back: what was pending for it goes out; what came meanwhile does not', async (t) => {
  const dir = tmpDir(t);
  let up = false;
  const rec = await startReceiver(t, { status: () => (up ? 204 : 503) });
  const sinkLines = [
    '[sinks.audit]',
    `url = "${rec.url}"`,
    'max_attempts = 1000',
    'backoff = { base = "100ms", max = "200ms" }',
  ];
  const base = write(dir, 'base.toml', [
    '[service]',
    `host = "${HOST}"`,
    'port = 0',
    '[store]',
    'path = "events.db"',
    '[log]',
    'format = "json"',
    'level = "info"',
  ]);
  const patch = write(dir, 'patch.toml', sinkLines);
  const { run, port } = await startCli(t, ['--config', base, '--patch', patch]);
  const nc = await within(connect({ servers: `${HOST}:${port}`, reconnect: false }), 'connect', WAIT_MS);
  t.after(() => nc.close().catch(() => {}));

  await publish(nc, 'nodeTerminated', 'pending-1');
  await until(() => rec.got.some((g) => g.id === 'pending-1'), 'attempted while the receiver is down', WAIT_MS);

  write(dir, 'patch.toml', ['# audit removed']);
  await signal(run, 'SIGHUP');
  const removed = await logLine(run, 'handler sinks reloaded', { ms: WAIT_MS });
  assert.deepEqual(removed.removed, ['audit']);
  await publish(nc, 'nodeTerminated', 'meanwhile');

  write(dir, 'patch.toml', sinkLines);
  await signal(run, 'SIGHUP');
  const added = await logLine(run, 'handler sinks reloaded', { n: 2, ms: WAIT_MS });
  assert.deepEqual(added.added, ['audit']);
  // Up only now: an attempt the removed sink had on the wire may still be read by the receiver after the removal
  // is logged, and a 204 to it would be a second delivery (at least once), not one routed while removed.
  up = true;
  await until(() => idsOf(rec).includes('pending-1'), 'the pending delivery went out on its return', WAIT_MS);
  await publish(nc, 'nodeTerminated', 'after');
  await until(() => idsOf(rec).includes('after'), 'the returned sink delivers new events', WAIT_MS);
  assert.deepEqual(idsOf(rec), ['pending-1', 'after'], 'nothing routed to it while it was removed');
  assert.ok(run.child.exitCode === null, 'the same process all along');
});

test("/handlerz shows a gRPC sink's URL and named sinks beside the handlers, never a URL's credentials", async (t) => {
  const g = await startGrpcReceiver(t);
  const web = await ok(t);
  const secretUrl = web.url.replace('http://', 'http://user:pw-secret@') + '?token=tok-secret';
  const svc = await startEventService({
    service: { host: HOST, port: 0 },
    monitor: { host: HOST, port: 0 },
    store: { path: path.join(tmpDir(t), 'events.db') },
    handlers: { event_feed: { url: g.url } } as never,
    sinks: { audit: { url: g.url }, web: { url: secretUrl } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await connect({ servers: `${HOST}:${svc.port}`, reconnect: false });
  t.after(() => nc.close());
  await publish(nc, 'scanJobCreated', 'g1');
  const base = `http://${HOST}:${svc.monitorPort}`;
  type Sink = { name: string; url: string; delivered: number; health: string };
  const sinks = await eventually(
    async () => {
      const h = (await (await within(fetch(`${base}/handlerz`), 'GET /handlerz')).json()) as {
        handlers: { sinks: Sink[] };
      };
      return h.handlers.sinks;
    },
    (s) => s.length === 3 && s.every((x) => x.delivered === 1),
    'each sink delivered g1',
    WAIT_MS,
  );
  assert.deepEqual(
    sinks.map((s) => [s.name, s.url, s.health]),
    [
      ['event_feed', g.url, 'ok'],
      ['audit', g.url, 'ok'],
      ['web', new URL(web.url).origin + new URL(web.url).pathname, 'ok'],
    ],
  );
  const page = await (await within(fetch(`${base}/handlerz`), 'GET /handlerz')).text();
  assert.ok(!/secret/.test(page), 'no credential of a URL is shown');
  assert.equal(g.events().length, 2, 'the handler and the named sink each got g1 once');
});
