// What a reload of the service puts in force, setting by setting: every key of every section changed once, and each
// optional section added and removed, with the configuration in force and the applied / needs-a-restart split the
// reload logs and `config patch` prints. The schema says it (reload marks on its fields); this pins the outcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planServiceReload, resolveServiceConfig } from '../src/config.js';
import type { HandlerSink, ServiceConfig } from '../src/config-types.js';

/** Every section present, so each of its keys can be changed. */
const RUNNING = resolveServiceConfig({
  service: { token: 'old-token', server_name: 'a', data_dir: '/srv/a' },
  tls: { cert_path: '/tls/a.pem', key_path: '/tls/a-key.pem', root_ca_path: '/tls/ca.pem' },
  websocket: { port: 8080 },
  monitor: { port: 8222 },
  leafnodes: { port: 7422 },
  store: { path: '/srv/a/events.db' },
  // An address, as a file gives it (the input type names a sink as resolved, with `secrets`: config-types.ts).
  handlers: { feed: '127.0.0.1:9000' as unknown as HandlerSink },
  feed: { max_events: 10 },
});

/** Reloads `change(copy of RUNNING)` and returns the keys applied, the keys left for a restart and the config in force. */
function plan(change: (next: ServiceConfig) => void, running: ServiceConfig = RUNNING) {
  const next = structuredClone(running);
  change(next);
  const p = planServiceReload(running, next);
  return { applied: p.applied.map((c) => c.key), restart: p.restart.map((c) => c.key), config: p.config, next };
}

const LIVE_SERVICE_KEYS: Partial<Record<keyof ServiceConfig['service'], unknown>> = {
  event_limit: 7,
  listener_limit: 8,
  max_payload: 1000,
  max_connections: 9,
  max_control_line: 2000,
  max_pending: 3000,
  max_subscriptions: 4,
  ping_interval: 5000,
  ping_max: 5,
  write_deadline: 6000,
  auth_timeout: 7000,
  token: 'new-token',
  server_name: 'b',
  lame_duck_duration: 30_000,
  lame_duck_grace_period: 1000,
};

test('every [service] setting applies live but the address it listens on and the data directory', () => {
  for (const [key, value] of Object.entries(LIVE_SERVICE_KEYS)) {
    const p = plan((n) => Object.assign(n.service, { [key]: value }));
    assert.deepEqual([p.applied, p.restart], [[`service.${key}`], []], key);
    assert.deepEqual(p.config, p.next, key);
  }
  for (const [key, value] of [
    ['host', '0.0.0.0'],
    ['port', 4222],
    ['data_dir', '/srv/b'],
  ] as const) {
    const p = plan((n) => Object.assign(n.service, { [key]: value }));
    assert.deepEqual([p.applied, p.restart], [[], [`service.${key}`]], key);
    assert.deepEqual(p.config, RUNNING, `${key} keeps its running value`);
  }
  const unset = plan((n) => delete n.service.data_dir);
  assert.deepEqual([unset.applied, unset.restart], [[], ['service.data_dir']]);
  assert.equal(unset.config.service.data_dir, '/srv/a');
  const users = plan((n) => {
    delete n.service.token;
    n.service.users = [{ user: 'u', password: 'p' }];
  });
  assert.deepEqual([users.applied, users.restart], [['service.token', 'service.users'], []]);
});

test('[log] level applies live, the format waits for a restart', () => {
  const level = plan((n) => (n.log.level = 'debug'));
  assert.deepEqual([level.applied, level.restart], [['log.level'], []]);
  const format = plan((n) => (n.log.format = 'json'));
  assert.deepEqual([format.applied, format.restart], [[], ['log.format']]);
  assert.equal(format.config.log.format, 'text');
});

test('[tls] files reload live; verify, and turning TLS on or off, wait for a restart', () => {
  for (const key of ['cert_path', 'key_path', 'root_ca_path'] as const) {
    const p = plan((n) => (n.tls![key] = `/tls/new-${key}`));
    assert.deepEqual([p.applied, p.restart], [[`tls.${key}`], []], key);
  }
  const verify = plan((n) => (n.tls!.verify = true));
  assert.deepEqual([verify.applied, verify.restart], [[], ['tls.verify']]);
  assert.equal(verify.config.tls!.verify, false);
  const off = plan((n) => delete n.tls);
  assert.deepEqual(
    [off.applied, off.restart],
    [[], ['tls.cert_path', 'tls.key_path', 'tls.root_ca_path', 'tls.verify']],
  );
  assert.deepEqual(off.config.tls, RUNNING.tls);
  const plain = structuredClone(RUNNING);
  delete plain.tls;
  const on = plan((n) => (n.tls = structuredClone(RUNNING.tls)), plain);
  assert.deepEqual([on.applied, on.restart], [[], ['tls.cert_path', 'tls.key_path', 'tls.root_ca_path', 'tls.verify']]);
  assert.equal(on.config.tls, undefined);
});

test('[websocket], [monitor], [leafnodes] and [store] wait for a restart, whether changed, added or removed', () => {
  const changes: [string, (n: ServiceConfig) => void][] = [
    ['websocket.port', (n) => (n.websocket!.port = 1)],
    ['websocket.no_tls', (n) => (n.websocket!.no_tls = true)],
    ['monitor.port', (n) => (n.monitor!.port = 1)],
    ['monitor.max_streams', (n) => (n.monitor!.max_streams = 1)],
    ['leafnodes.port', (n) => (n.leafnodes!.port = 1)],
    ['leafnodes.authorization.token', (n) => (n.leafnodes!.authorization = { token: 't' })],
    ['store.path', (n) => (n.store!.path = '/elsewhere.db')],
  ];
  for (const [key, change] of changes) {
    const p = plan(change);
    assert.deepEqual([p.applied, p.restart], [[], [key]], key);
    assert.deepEqual(p.config, RUNNING, key);
  }
  for (const section of ['websocket', 'monitor', 'leafnodes', 'store'] as const) {
    const removed = plan((n) => delete n[section]);
    assert.deepEqual(removed.applied, [], section);
    assert.ok(removed.restart.length > 0 && removed.restart.every((k) => k.startsWith(`${section}.`)), section);
    assert.deepEqual(removed.config, RUNNING, `${section} stays while the service runs`);
    const without = structuredClone(RUNNING);
    delete without[section];
    const added = plan((n) => Object.assign(n, { [section]: RUNNING[section] }), without);
    assert.deepEqual(added.applied, [], section);
    assert.equal(added.config[section], undefined, `${section} waits for a restart`);
  }
});

test('[handlers] and [feed] apply live, added, changed or removed', () => {
  const sink = plan((n) => (n.handlers!.feed!.url = 'http://127.0.0.1:9001/'));
  assert.deepEqual([sink.applied, sink.restart], [['handlers.feed.url'], []]);
  const added = plan((n) => (n.handlers!.event_feed = { ...n.handlers!.feed!, url: 'http://127.0.0.1:9002/' }));
  assert.deepEqual(added.restart, []);
  assert.deepEqual(added.config.handlers, added.next.handlers);
  const gone = plan((n) => delete n.handlers);
  assert.deepEqual(gone.restart, []);
  assert.equal(gone.config.handlers, undefined);
  const retention = plan((n) => (n.feed!.max_age = 1000));
  assert.deepEqual([retention.applied, retention.restart], [['feed.max_age'], []]);
  const noFeed = plan((n) => delete n.feed);
  assert.deepEqual(noFeed.restart, []);
  assert.equal(noFeed.config.feed, undefined);
});

test('the configuration in force takes every live change and keeps every restart-only one, together', () => {
  const p = plan((n) => {
    n.service.port = 1;
    n.service.listener_limit = 5;
    n.log.format = 'json';
    n.log.level = 'warn';
    n.tls!.verify = true;
    n.tls!.cert_path = '/tls/b.pem';
    n.monitor!.port = 1;
    n.feed!.max_events = 20;
    n.service.token = 'token-canary';
  });
  assert.deepEqual(p.applied, [
    'feed.max_events',
    'log.level',
    'service.listener_limit',
    'service.token',
    'tls.cert_path',
  ]);
  assert.deepEqual(p.restart, ['log.format', 'monitor.port', 'service.port', 'tls.verify']);
  const expected = structuredClone(p.next);
  expected.service.port = RUNNING.service.port;
  expected.log.format = RUNNING.log.format;
  expected.tls!.verify = RUNNING.tls!.verify;
  expected.monitor = RUNNING.monitor;
  assert.deepEqual(p.config, expected);
  assert.ok(!JSON.stringify([p.applied, p.restart]).includes('canary'), 'secrets redacted in the changes');
});
