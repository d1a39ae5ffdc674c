// /metrics beyond the connection figures (events queued against event_limit; each sink's deliveries, failures,
// retries, dead letters and backlog; leafnode links) and /leafz with a real nats-server 2.9 leaf attached, its JSON
// compared field by field with a nats-server hub the same leaf is attached to at the same time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { connect, StringCodec } from 'nats';
import { startEventService, type EventService } from '../src/index.js';
import { natsServerSkip, startNatsServer } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { connectRaw, RawPool } from '@event-broker/test-support/raw';
import { until, within } from '@event-broker/test-support/wait';
import { tmpDir } from '@event-broker/test-support/tmp';
import { startReceiver } from '@event-broker/test-support/http';
import { untilFlows } from '@event-broker/test-support/flow';

const sc = StringCodec();
/** Generous: nats-server children and sink retries on a machine the whole suite shares. */
const WAIT_MS = 10_000;
const HOST = '127.0.0.1';

/** Every sample in a Prometheus text exposition, keyed `name{labels}` as printed (`name` alone without labels). */
async function scrape(svc: EventService): Promise<Map<string, number>> {
  const res = await within(fetch(`http://${HOST}:${svc.monitorPort}/metrics`), 'GET /metrics');
  assert.equal(res.status, 200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Polls /metrics until `want` holds (bounded); returns the last scrape. */
async function metricsUntil(
  svc: EventService,
  want: (m: Map<string, number>) => boolean,
  what: string,
): Promise<Map<string, number>> {
  let last = new Map<string, number>();
  await until(
    async () => want((last = await scrape(svc))),
    what,
    WAIT_MS,
    () =>
      [...last]
        .filter(([k]) => k.startsWith('event_service_'))
        .map(([k, v]) => `${k} ${v}`)
        .join('\n'),
  );
  return last;
}

const ev = (type: string, id: string) => JSON.stringify({ specversion: '1.0', id, source: '/metrics-test', type });

test('/metrics shows events queued against event_limit and, per sink, deliveries, failures, retries, dead letters and backlog', async (t) => {
  // feed fails once then accepts; cfgingest always fails and gives up after two attempts; event_feed (every
  // event) accepts, but holds its answers back at first so the events stay queued.
  const [feed, cfg, all] = await Promise.all([
    startReceiver(t, { status: (n) => (n === 0 ? 500 : 200) }),
    startReceiver(t, { status: () => 503 }),
    startReceiver(t),
  ]);
  all.hold();
  const svc = await startEventService({
    service: { host: HOST, port: 0, event_limit: 50 },
    monitor: { host: HOST, port: 0 },
    store: { path: path.join(tmpDir(t), 'events.db') },
    handlers: { feed: feed.url, cfgingest: { url: cfg.url, max_attempts: 2 }, event_feed: all.url } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await within(connect({ servers: `${HOST}:${svc.port}` }), 'connect');
  t.after(() => nc.close());
  for (const [i, type] of ['compliance_ingest', 'cfgingest', 'profileUpdate'].entries()) {
    const r = await nc.request(`events.${type}`, sc.encode(ev(type, `m${i}`)), { timeout: 3000 });
    assert.deepEqual(JSON.parse(sc.decode(r.data)), { id: `m${i}` });
  }

  // One repeated id and one invalid event: counted by the intake, stored once and not at all.
  assert.deepEqual(
    JSON.parse(
      sc.decode((await nc.request('events.cfgingest', sc.encode(ev('cfgingest', 'm1')), { timeout: 3000 })).data),
    ),
    { id: 'm1', duplicate: true },
  );
  const bad = JSON.parse(
    sc.decode((await nc.request('events.cfgingest', sc.encode('{"specversion":"1.0"}'), { timeout: 3000 })).data),
  ) as { error: { code: string } };
  assert.equal(bad.error.code, 'EEVENT_INVALID');

  const queued = await metricsUntil(
    svc,
    (m) => m.get('event_service_handler_backlog{sink="event_feed"}') === 3,
    'three events owed to event_feed',
  );
  assert.equal(queued.get('event_service_events_accepted_total'), 3);
  assert.equal(queued.get('event_service_events_duplicates_total'), 1);
  assert.equal(queued.get('event_service_events_refused_total{reason="invalid"}'), 1);
  assert.equal(queued.get('event_service_events_refused_total{reason="event_limit"}'), 0);
  assert.equal(queued.get('event_service_paused_publishers'), 0);
  assert.ok(
    queued.get('event_service_store_commits_total')! >= 4,
    'a commit per request here: each waited for its answer',
  );
  assert.ok(queued.get('event_service_store_commit_seconds_total')! > 0);
  assert.equal(queued.get('event_service_events_queued'), 3, 'held while event_feed has not answered');
  assert.equal(queued.get('event_service_event_limit'), 50);

  all.release();
  const m = await metricsUntil(
    svc,
    (m) =>
      m.get('event_service_events_queued') === 0 &&
      m.get('event_service_handler_deliveries_total{sink="feed"}') === 2 &&
      m.get('event_service_handler_dead_letters{sink="cfgingest"}') === 1 &&
      // The dead letter is read from the store, the attempt counters from the sink worker's next report, which can
      // come a moment later: both are waited for, then the counters must be exact.
      m.get('event_service_handler_failures_total{sink="cfgingest"}')! >= 2,
    'every delivery resolved',
  );
  // feed: compliance_ingest and profileUpdate; the first attempt failed and was retried.
  assert.equal(m.get('event_service_handler_failures_total{sink="feed"}'), 1);
  assert.equal(m.get('event_service_handler_retries_total{sink="feed"}'), 1);
  assert.equal(m.get('event_service_handler_dead_letters{sink="feed"}'), 0);
  assert.equal(m.get('event_service_handler_backlog{sink="feed"}'), 0);
  // cfgingest: two failed attempts, one retry between them, then the dead letter.
  assert.equal(m.get('event_service_handler_deliveries_total{sink="cfgingest"}'), 0);
  assert.equal(m.get('event_service_handler_failures_total{sink="cfgingest"}'), 2);
  assert.equal(m.get('event_service_handler_retries_total{sink="cfgingest"}'), 1);
  assert.equal(m.get('event_service_handler_backlog{sink="cfgingest"}'), 0);
  assert.equal(m.get('event_service_handler_deliveries_total{sink="event_feed"}'), 3);
  assert.equal(m.get('event_service_handler_up{sink="event_feed"}'), 1);
  assert.equal(cfg.got.length, 2);
  assert.equal(m.get('event_service_leafnode_links'), 0, 'no leafnode links without [leafnodes]');
});

interface Leafz {
  server_id: string;
  now: string;
  leafnodes: number;
  leafs: Record<string, unknown>[];
}

async function getLeafz(port: number, query = ''): Promise<Leafz> {
  const res = await within(fetch(`http://${HOST}:${port}/leafz${query}`), `GET :${port}/leafz`);
  assert.equal(res.status, 200);
  return (await res.json()) as Leafz;
}

const shape = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? 'array' : typeof v]));

test(
  "/leafz lists an attached nats-server leaf with nats-server's field names and types, and /metrics counts the link",
  { skip: natsServerSkip() },
  async (t) => {
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      monitor: { host: HOST, port: 0 },
      leafnodes: { host: HOST, port: 0 },
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    // A nats-server hub beside ours, and one leaf attached to both.
    const [hubPort, hubLeafPort, hubHttp, leafPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    await startNatsServer(
      t,
      [
        `listen: "${HOST}:${hubPort}"`,
        `http: "${HOST}:${hubHttp}"`,
        'server_name: ref-hub',
        `leafnodes { listen: "${HOST}:${hubLeafPort}" }`,
      ],
      hubPort,
    );
    const leaf = await startNatsServer(
      t,
      [
        `listen: "${HOST}:${leafPort}"`,
        'server_name: test-leaf',
        `leafnodes { remotes: [ { url: "nats://${HOST}:${svc.leafnodePort}" }, { url: "nats://${HOST}:${hubLeafPort}" } ] }`,
      ],
      leafPort,
    );

    // A subscriber on the leaf: its interest crosses to both hubs.
    const onLeaf = await within(connect({ servers: `${HOST}:${leafPort}` }), 'connect to the leaf');
    t.after(() => onLeaf.close());
    const got: string[] = [];
    const sub = onLeaf.subscribe('leafz.x');
    void (async () => {
      for await (const msg of sub) got.push(sc.decode(msg.data));
    })();
    await onLeaf.flush();
    let ours: Leafz | undefined;
    let theirs: Leafz | undefined;
    const has = (z: Leafz) =>
      z.leafnodes === 1 &&
      ((z.leafs[0]?.subscriptions_list as string[] | undefined) ?? []).includes('leafz.x') &&
      z.leafs[0]?.rtt !== undefined;
    await until(
      async () => {
        [ours, theirs] = await Promise.all([getLeafz(svc.monitorPort!, '?subs=1'), getLeafz(hubHttp, '?subs=1')]);
        return has(ours) && has(theirs);
      },
      'the leaf on both hubs with leafz.x',
      WAIT_MS,
      () => `ours ${JSON.stringify(ours)}\ntheirs ${JSON.stringify(theirs)}`,
    );
    if (ours === undefined || theirs === undefined) throw new Error('unreachable: until returned without both views');
    assert.deepEqual(
      shape(ours as unknown as Record<string, unknown>),
      shape(theirs as unknown as Record<string, unknown>),
      'the same top-level fields',
    );
    // Every field nats-server 2.9 gives, with its type; beyond them only name and is_spoke, which 2.10 added.
    const [mine, ref] = [shape(ours.leafs[0]!), shape(theirs.leafs[0]!)];
    for (const [k, type] of Object.entries(ref))
      assert.equal(mine[k], type, `leafs[0].${k}: ours ${JSON.stringify(ours.leafs[0])}`);
    assert.deepEqual(
      Object.keys(mine)
        .filter((k) => !(k in ref))
        .sort(),
      Object.keys(ref).includes('name') ? [] : ['is_spoke', 'name'],
    );
    assert.deepEqual(
      [...(ours.leafs[0]!.subscriptions_list as string[])].sort().filter((s) => !s.startsWith('$LDS.')),
      [...(theirs.leafs[0]!.subscriptions_list as string[])].sort().filter((s) => !s.startsWith('$LDS.')),
      'the same interest',
    );
    const link = ours.leafs[0]!;
    assert.equal(link.name, 'test-leaf');
    assert.equal(link.is_spoke, false, 'the hub side of an accepted link');
    assert.equal(link.account, theirs.leafs[0]!.account);
    assert.equal(link.ip, HOST);
    assert.match(String(link.rtt), /^\d+(\.\d+)?(ns|µs|ms|s)$/);

    // Messages across the link are counted both ways on it.
    const nc = await within(connect({ servers: `${HOST}:${svc.port}` }), 'connect to ours');
    t.after(() => nc.close());
    await untilFlows(
      () => nc.publish('leafz.x', sc.encode('hello')),
      () => got.length > 0,
      'a message from our service reaching the leaf',
      WAIT_MS,
    );
    const after = (await getLeafz(svc.monitorPort!)).leafs[0]!;
    assert.ok((after.out_msgs as number) >= 1 && (after.out_bytes as number) >= 5, JSON.stringify(after));
    assert.equal(after.subscriptions_list, undefined, 'listed only with ?subs');

    await metricsUntil(svc, (m) => m.get('event_service_leafnode_links') === 1, 'one leafnode link');

    // The leaf goes away: both say so.
    await onLeaf.close();
    await leaf.stop();
    await metricsUntil(svc, (m) => m.get('event_service_leafnode_links') === 0, 'the link gone from /metrics');
    assert.deepEqual((await getLeafz(svc.monitorPort!)).leafs, []);
  },
);

test('sockets that never completed an admitted CONNECT are not links: /metrics, /handlerz and /leafz count admitted links, the unauthenticated apart', async (t) => {
  const svc = await startEventService({
    service: { host: HOST, port: 0 },
    monitor: { host: HOST, port: 0 },
    leafnodes: {
      host: HOST,
      port: 0,
      max_unauthenticated: 16,
      authorization: { user: 'leaf', password: 's3cret' },
    } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const pool = new RawPool();
  t.after(() => pool.closeAll());
  const target = { host: HOST, port: svc.leafnodePort! };
  const FLOOD = 5;
  // Silent sockets, one that sent a partial CONNECT and one whose CONNECT is waiting for nothing else.
  for (let i = 0; i < FLOOD; i++) {
    const conn = await pool.connect(target);
    if (i === 0) conn.send('CONNECT {"user":"le');
  }
  const handlerz = async () =>
    (await (await within(fetch(`http://${HOST}:${svc.monitorPort}/handlerz`), 'GET /handlerz')).json()) as {
      leafnodes: { total_links: number; unauthenticated: number; links: Array<{ lid: number; name: string }> };
    };

  // Each socket was greeted (connectRaw read the INFO): the service has them all.
  const flooded = await scrape(svc);
  assert.equal(flooded.get('event_service_leafnode_links'), 0);
  const h = await handlerz();
  assert.deepEqual(h.leafnodes.links, []);
  assert.equal(h.leafnodes.total_links, 0);
  assert.equal(flooded.get('event_service_leafnode_unauthenticated'), FLOOD);
  assert.equal(h.leafnodes.unauthenticated, FLOOD);
  assert.deepEqual((await getLeafz(svc.monitorPort!)).leafs, [], "/leafz lists admitted links only, as nats-server's");
  const varz = async () =>
    (
      (await (await within(fetch(`http://${HOST}:${svc.monitorPort}/varz`), 'GET /varz')).json()) as {
        leafnodes: number;
      }
    ).leafnodes;
  assert.equal(await varz(), 0);

  // An admitted leaf is a link everywhere; the flood is still apart.
  const leaf = pool.track(await connectRaw(target));
  leaf.send(
    `CONNECT ${JSON.stringify({ version: '2.9.10', server_id: 'NADMITTED', name: 'admitted', headers: true, user: 'leaf', pass: 's3cret' })}\r\nPING\r\n`,
  );
  await leaf.expect(/PONG\r\n/, 3000);
  const m = await metricsUntil(svc, (m) => m.get('event_service_leafnode_links') === 1, 'one admitted link');
  assert.equal(m.get('event_service_leafnode_unauthenticated'), FLOOD);
  const after = await handlerz();
  assert.deepEqual(
    after.leafnodes.links.map((l) => [l.lid, l.name]),
    [[6, 'admitted']],
  );
  assert.equal(after.leafnodes.total_links, 1);
  assert.deepEqual(
    (await getLeafz(svc.monitorPort!)).leafs.map((l) => l.name),
    ['admitted'],
  );
  assert.equal(await varz(), 1, "/varz leafnodes counts the admitted link, as nats-server's");
});
