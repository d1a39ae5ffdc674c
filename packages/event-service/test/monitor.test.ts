// The monitoring listener read the way nats-top and prometheus-nats-exporter read nats-server's: the same requests
// go to our service and to nats-server (`-m`) with the same clients connected, and every field nats-server answers
// must be in ours with the same JSON type. Then /connz's paging and sorting on both, /healthz while shutting down,
// and /metrics as Prometheus text.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect, type NatsConnection } from 'nats';
import { loadServiceConfig } from '../src/config.js';
import { startEventService, type EventService } from '../src/index.js';
import { natsServerSkip, spawnNatsServer } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { eventually, until, WAIT_MS, within } from '@event-broker/test-support/wait';
import { tmpDir, write as writeFile } from '@event-broker/test-support/tmp';

/** A server with its monitoring port, ours or nats-server's. */
interface Monitored {
  readonly name: string;
  readonly url: string;
  readonly monitorUrl: string;
  stop(): Promise<void>;
}

async function startOurs(): Promise<Monitored & { svc: EventService }> {
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    monitor: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
  });
  assert.ok(svc.monitorPort !== undefined && svc.monitorPort > 0, 'monitorPort is bound');
  return {
    name: 'event-service',
    svc,
    url: `nats://127.0.0.1:${svc.port}`,
    monitorUrl: `http://127.0.0.1:${svc.monitorPort}`,
    stop: () => svc.close(),
  };
}

async function startNatsServer(): Promise<Monitored> {
  const [port, mport] = [await freePort(), await freePort()];
  const server = await spawnNatsServer([], {
    port,
    args: ['-a', '127.0.0.1', '-p', String(port), '-m', String(mport)],
  });
  const monitorUrl = `http://127.0.0.1:${mport}`;
  try {
    await until(
      () =>
        fetch(`${monitorUrl}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      'nats-server monitoring answers',
      WAIT_MS,
      () => server.log(),
    );
  } catch (err) {
    await server.stop('SIGKILL');
    throw err;
  }
  return {
    name: 'nats-server',
    url: `nats://127.0.0.1:${port}`,
    monitorUrl,
    stop: () => server.stop(),
  };
}

async function get(m: Monitored, pathAndQuery: string): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(m.monitorUrl + pathAndQuery, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

async function getJson(m: Monitored, pathAndQuery: string): Promise<Record<string, any>> {
  const r = await get(m, pathAndQuery);
  assert.equal(r.status, 200, `${m.name} ${pathAndQuery}: ${r.text}`);
  assert.match(r.type, /^application\/json/);
  return JSON.parse(r.text) as Record<string, any>;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Every key of `theirs` is in `ours` with the same JSON type; returns the mismatches as readable lines. */
function missingOrMistyped(
  ours: Record<string, unknown>,
  theirs: Record<string, unknown>,
  where: string,
  except: string[] = [],
): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(theirs)) {
    if (except.includes(k)) continue;
    if (!(k in ours)) problems.push(`${where}.${k}: missing (nats-server: ${JSON.stringify(v)})`);
    else if (jsonType(ours[k]) !== jsonType(v)) {
      problems.push(
        `${where}.${k}: ${jsonType(ours[k])} ${JSON.stringify(ours[k])}, nats-server ${jsonType(v)} ${JSON.stringify(v)}`,
      );
    }
  }
  return problems;
}

/**
 * The same clients on a server: `a` (3 subscriptions, publishes 5 messages, receives them back), `b` (2
 * subscriptions, one in a queue group, receives each message twice), connected in that order so cid order is a, b.
 */
async function populate(m: Monitored): Promise<NatsConnection[]> {
  const a = await connect({ servers: m.url, name: 'a' });
  const b = await connect({ servers: m.url, name: 'b' });
  a.subscribe('foo.>');
  a.subscribe('orders.*');
  a.subscribe('audit');
  b.subscribe('foo.bar', { queue: 'workers' });
  b.subscribe('foo.*');
  await b.flush();
  for (let i = 0; i < 5; i++) a.publish('foo.bar', `message ${i}`);
  await a.flush();
  await b.flush();
  return [a, b];
}

describe('monitoring endpoints beside nats-server', { skip: natsServerSkip() }, () => {
  let ours: Monitored;
  let theirs: Monitored;
  const conns: NatsConnection[] = [];

  before(async () => {
    ours = await startOurs();
    theirs = await startNatsServer();
    conns.push(...(await populate(ours)), ...(await populate(theirs)));
  });
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    await ours?.stop();
    await theirs?.stop();
  });

  it('/varz has every field nats-server answers (system_account aside), with the same JSON types', async () => {
    const [o, t] = await Promise.all([getJson(ours, '/varz'), getJson(theirs, '/varz')]);
    // Our server has no accounts, so no system account to name.
    assert.deepEqual(missingOrMistyped(o, t, 'varz', ['system_account']), []);
    for (const k of [
      'server_id',
      'server_name',
      'version',
      'proto',
      'host',
      'port',
      'max_connections',
      'ping_interval',
      'ping_max',
      'http_host',
      'http_port',
      'max_control_line',
      'max_payload',
      'max_pending',
      'write_deadline',
      'start',
      'now',
      'uptime',
      'mem',
      'cores',
      'cpu',
      'connections',
      'total_connections',
      'routes',
      'remotes',
      'leafnodes',
      'in_msgs',
      'out_msgs',
      'in_bytes',
      'out_bytes',
      'slow_consumers',
      'subscriptions',
      'config_load_time',
    ]) {
      assert.ok(k in t, `nats-server answers ${k}`);
    }
    // Same settings, same values: durations in Go's nanoseconds, not our milliseconds.
    assert.equal(o.ping_interval, t.ping_interval);
    assert.equal(o.write_deadline, t.write_deadline);
    assert.equal(o.max_payload, t.max_payload);
    assert.equal(o.max_pending, t.max_pending);
    assert.equal(o.connections, 2);
    assert.equal(o.subscriptions, 5);
    assert.equal(o.in_msgs, 5);
    assert.equal(o.out_msgs, t.out_msgs);
    assert.equal(o.http_port, Number(new URL(ours.monitorUrl).port));
    assert.match(o.server_id, /^N[A-Z2-7]{55}$/);
    assert.match(o.start, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.match(o.uptime, /^(\d+[ydhm])*\d+s$/);
  });

  it('/connz connections carry every field nats-server gives, plain, with subs=1 and with subs=detail', async () => {
    for (const q of ['', '?subs=1', '?subs=detail']) {
      const [o, t] = await Promise.all([getJson(ours, `/connz${q}`), getJson(theirs, `/connz${q}`)]);
      assert.deepEqual(missingOrMistyped(o, t, `connz${q}`), []);
      assert.equal(o.connections.length, t.connections.length);
      const [oa, ta] = [o.connections[0], t.connections[0]];
      assert.deepEqual(missingOrMistyped(oa, ta, `connz${q}.connections[0]`), []);
      assert.deepEqual(Object.keys(oa).sort(), Object.keys(ta).sort(), `the same fields, no more (${q})`);
      for (const k of [
        'name',
        'lang',
        'in_msgs',
        'out_msgs',
        'in_bytes',
        'out_bytes',
        'subscriptions',
        'kind',
        'type',
        'ip',
      ]) {
        assert.deepEqual(oa[k], ta[k], `${k} (${q})`);
      }
      if (q === '?subs=1') assert.deepEqual([...oa.subscriptions_list].sort(), [...ta.subscriptions_list].sort());
      if (q === '?subs=detail') {
        const strip = (l: any[]) =>
          l.map(({ cid: _c, ...rest }) => rest).sort((x, y) => x.subject.localeCompare(y.subject));
        assert.deepEqual(
          strip(o.connections[1].subscriptions_list_detail),
          strip(t.connections[1].subscriptions_list_detail),
        );
      }
    }
  });

  it("/subsz has nats-server's figures, and with subs=1 its list fields", async () => {
    const [o, t] = await Promise.all([getJson(ours, '/subsz'), getJson(theirs, '/subsz')]);
    assert.deepEqual(missingOrMistyped(o, t, 'subsz'), []);
    assert.equal(o.num_subscriptions, 5);
    const [ol, tl] = await Promise.all([getJson(ours, '/subsz?subs=1'), getJson(theirs, '/subsz?subs=1')]);
    assert.deepEqual(missingOrMistyped(ol, tl, 'subsz?subs=1'), []);
    const theirClientSub = tl.subscriptions_list.find((s: any) => s.qgroup === 'workers');
    const ourClientSub = ol.subscriptions_list.find((s: any) => s.qgroup === 'workers');
    assert.deepEqual(missingOrMistyped(ourClientSub, theirClientSub, 'subsz.subscriptions_list[]'), []);
    assert.equal(ol.subscriptions_list.length, 5);
    // `test` keeps the subscriptions a subject would reach.
    const reached = await getJson(ours, '/subsz?subs=1&test=foo.bar');
    assert.deepEqual(reached.subscriptions_list.map((s: any) => s.subject).sort(), ['foo.*', 'foo.>', 'foo.bar']);
  });

  it('/leafz says no leafnodes, as nats-server does without any', async () => {
    const [o, t] = await Promise.all([getJson(ours, '/leafz'), getJson(theirs, '/leafz')]);
    // nats-server writes leafs as null (a nil Go slice); ours is [], which its readers also take as empty.
    assert.deepEqual(missingOrMistyped(o, t, 'leafz', ['leafs']), []);
    assert.equal(o.leafnodes, 0);
    assert.deepEqual(o.leafs, []);
  });

  it('/healthz is 200 {"status":"ok"} on both', async () => {
    const [o, t] = await Promise.all([get(ours, '/healthz'), get(theirs, '/healthz')]);
    assert.equal(o.status, 200);
    assert.equal(t.status, 200);
    assert.deepEqual(JSON.parse(o.text), JSON.parse(t.text));
    assert.equal(o.text, t.text);
  });

  for (const which of ['ours', 'nats-server'] as const) {
    const m = () => (which === 'ours' ? ours : theirs);

    it(`/connz sorts, pages and filters the same way (${which})`, async () => {
      const names = (z: Record<string, any>) => z.connections.map((c: any) => c.name);
      assert.deepEqual(names(await getJson(m(), '/connz')), ['a', 'b'], 'cid order by default');
      assert.deepEqual(names(await getJson(m(), '/connz?sort=subs')), ['a', 'b'], 'most subscriptions first');
      assert.deepEqual(names(await getJson(m(), '/connz?sort=msgs_from')), ['a', 'b'], 'most published first');
      assert.deepEqual(names(await getJson(m(), '/connz?sort=msgs_to')), ['b', 'a'], 'most received first');
      assert.deepEqual(names(await getJson(m(), '/connz?sort=start')), ['a', 'b'], 'oldest first');
      for (const s of ['pending', 'bytes_to', 'bytes_from', 'last', 'idle', 'uptime']) {
        assert.equal((await getJson(m(), `/connz?sort=${s}`)).connections.length, 2, `sort=${s} is accepted`);
      }
      const page = await getJson(m(), '/connz?limit=1&offset=1');
      assert.deepEqual([page.num_connections, page.total, page.offset, page.limit, names(page)], [1, 2, 1, 1, ['b']]);
      const past = await getJson(m(), '/connz?offset=5');
      assert.deepEqual([past.num_connections, past.total, past.connections], [0, 2, []]);
      const dflt = await getJson(m(), '/connz?limit=0&offset=-3');
      assert.deepEqual([dflt.limit, dflt.offset], [1024, 0], 'limit 0 means the default, a negative offset 0');
      const first = (await getJson(m(), '/connz')).connections[1];
      const one = await getJson(m(), `/connz?cid=${first.cid}`);
      assert.deepEqual(names(one), ['b']);
      const plain = (await getJson(m(), '/connz')).connections[0];
      assert.ok(!('subscriptions_list' in plain), 'no list unless subs=1');
    });

    it(`/connz refuses a bad sort or number with 400 and nats-server's text (${which})`, async () => {
      const bogus = await get(m(), '/connz?sort=bogus');
      assert.equal(bogus.status, 400);
      assert.equal(bogus.text, 'invalid sorting option: bogus');
      const stop = await get(m(), '/connz?sort=stop');
      assert.equal(stop.status, 400);
      assert.equal(stop.text, 'sort by stop only valid on closed connections');
      const limit = await get(m(), '/connz?limit=abc');
      assert.equal(limit.status, 400);
      assert.match(limit.text, /^Error decoding int for 'limit': /);
      assert.equal((await get(m(), '/nope')).status, 404);
    });
  }

  it('/connz?state=closed lists a closed connection with its reason on both', async () => {
    for (const m of [ours, theirs]) {
      const c = await connect({ servers: m.url, name: 'gone' });
      c.subscribe('x');
      await c.flush();
      await c.close();
      const closed = await eventually(
        () => getJson(m, '/connz?state=closed&sort=stop'),
        (c) => c.connections.some((x: any) => x.name === 'gone'),
        `${m.name} lists the closed connection`,
      );
      const gone = closed.connections.find((x: any) => x.name === 'gone');
      assert.ok(gone, `${m.name} lists the closed connection`);
      assert.equal(gone.reason, 'Client Closed', m.name);
      assert.match(gone.stop, /Z$/);
      const open = await getJson(m, '/connz');
      assert.ok(!open.connections.some((x: any) => x.name === 'gone'), `${m.name}: not among the open ones`);
    }
  });
});

describe('monitoring: our own behaviour', () => {
  it('/healthz answers 503 unavailable while the server shuts down', async (t) => {
    const m = await startOurs();
    t.after(() => m.stop());
    // A peer that never closes its side holds the shutdown open (the server cuts it after 2 s).
    const port = m.svc.port;
    const raw = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    t.after(() => raw.destroy());
    await within(new Promise((r) => raw.once('data', r)), 'INFO from the server');
    assert.equal((await get(m, '/healthz')).status, 200);
    const closing = m.svc.close();
    const h = await get(m, '/healthz');
    assert.equal(h.status, 503);
    const body = JSON.parse(h.text);
    assert.equal(body.status, 'unavailable');
    assert.equal(typeof body.error, 'string');
    await within(closing, 'shutdown', 5000);
    await assert.rejects(fetch(`${m.monitorUrl}/healthz`), 'the monitoring port is closed with the server');
  });

  it('/metrics is Prometheus text whose counters rise with traffic; each server has its own registry', async (t) => {
    const m1 = await startOurs();
    const m2 = await startOurs();
    t.after(() => Promise.all([m1.stop(), m2.stop()]));
    const scrape = async (m: Monitored) => {
      const r = await get(m, '/metrics');
      assert.equal(r.status, 200);
      assert.match(r.type, /^text\/plain; version=0\.0\.4/);
      const values = new Map<string, number>();
      for (const line of r.text.split('\n')) {
        const match = /^([a-z_:][a-z0-9_:]*) (\S+)$/i.exec(line);
        if (match) values.set(match[1]!, Number(match[2]));
      }
      return { text: r.text, values };
    };
    const before = await scrape(m1);
    assert.match(before.text, /^# TYPE event_service_in_msgs_total counter$/m);
    assert.match(before.text, /^# TYPE event_service_connections gauge$/m);
    assert.match(before.text, /^# TYPE event_service_listener_limit gauge$/m);
    assert.equal(before.values.get('event_service_listener_limit'), 10_000);
    assert.equal(before.values.get('event_service_event_limit'), 100_000);
    assert.equal(before.values.get('event_service_up'), 1);
    assert.ok(before.values.has('process_resident_memory_bytes'), 'process metrics are there too');

    const nc = await connect({ servers: m1.url });
    t.after(() => nc.close());
    nc.subscribe('metrics.>');
    for (let i = 0; i < 10; i++) nc.publish('metrics.x', 'abcd');
    await nc.flush();
    const afterPub = await scrape(m1);
    assert.equal(
      afterPub.values.get('event_service_in_msgs_total'),
      before.values.get('event_service_in_msgs_total')! + 10,
    );
    assert.equal(
      afterPub.values.get('event_service_in_bytes_total'),
      before.values.get('event_service_in_bytes_total')! + 40,
    );
    assert.equal(afterPub.values.get('event_service_out_msgs_total'), 10);
    assert.equal(afterPub.values.get('event_service_connections'), 1);
    assert.equal(afterPub.values.get('event_service_connections_total'), 1);
    assert.equal(afterPub.values.get('event_service_subscriptions'), 1);

    const other = await scrape(m2);
    assert.equal(other.values.get('event_service_in_msgs_total'), 0, 'the other server counts only its own');
    assert.equal(other.values.get('event_service_connections'), 0);
  });

  it('[monitor] in TOML: off when absent, host defaults to 127.0.0.1, port is required', async (t) => {
    const dir = tmpDir(t, 'monitor-config-');
    const write = (name: string, text: string) => writeFile(dir, name, text);
    assert.equal(
      loadServiceConfig({ configPath: write('none.toml', '[service]\nport = 0\n') }).config.monitor,
      undefined,
    );
    const on = loadServiceConfig({ configPath: write('on.toml', '[monitor]\nport = 8222\n') }).config.monitor;
    assert.deepEqual(on, {
      host: '127.0.0.1',
      port: 8222,
      allowed_origins: [],
      allowed_hosts: [],
      max_connections: 128,
      max_streams: 64,
    });
    assert.throws(
      () => loadServiceConfig({ configPath: write('noport.toml', '[monitor]\nhost = "0.0.0.0"\n') }),
      (err: Error & { code?: string }) => /monitor\.port/.test(err.message) && typeof err.code === 'string',
    );
    assert.throws(
      () => loadServiceConfig({ configPath: write('big.toml', '[monitor]\nport = 70000\n') }),
      /monitor\.port/,
    );
  });
});
