// The reload planner on a schema's marks (`.live()`, `.restart()`, inherited from the section, restart at the root),
// and the sections both processes share: the NATS listener ([service] / [gateway]) and [log].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, logSection, clientPortSection, planReload, resolveConfig, schema as s } from '../src/index.js';

const root = s.table({
  limits: s
    .table({
      port: s.port().default(1).restart(),
      max: s.integer().default(1),
    })
    .live(),
  tls: s
    .table({ cert: s.string(), verify: s.boolean().default(false).restart() })
    .optional()
    .live(),
  sinks: s.table({ url: s.string() }).optional().live(),
  listener: s.table({ port: s.port() }).optional().restart(),
  // No mark: a section nobody classified waits for a restart (the guard against a new section claiming to reload).
  added_later: s.table({ size: s.integer().default(1) }),
});

const running = resolveConfig(root, {
  limits: { port: 10, max: 5 },
  tls: { cert: 'a.pem' },
  sinks: { url: 'http://a' },
  listener: { port: 80 },
  added_later: { size: 2 },
}).value;

function reload(change: (next: typeof running) => void) {
  const next = structuredClone(running);
  change(next);
  const plan = planReload(root, running, next);
  return { ...plan, applied: plan.applied.map((c) => c.key), restart: plan.restart.map((c) => c.key), next };
}

test("a field takes its section's mark unless it has its own; an unmarked section waits for a restart", () => {
  const p = reload((n) => {
    n.limits.port = 11;
    n.limits.max = 6;
    n.added_later.size = 3;
  });
  assert.deepEqual(p.applied, ['limits.max']);
  assert.deepEqual(p.restart, ['added_later.size', 'limits.port']);
  assert.deepEqual(p.config, { ...p.next, limits: { port: 10, max: 6 }, added_later: { size: 2 } });
});

test('adding or removing a section is live only when everything in it is', () => {
  const removed = reload((n) => {
    delete n.tls;
    delete n.sinks;
    delete n.listener;
  });
  assert.deepEqual(removed.applied, ['sinks.url']);
  assert.deepEqual(removed.restart, ['listener.port', 'tls.cert', 'tls.verify']);
  assert.equal(removed.config.sinks, undefined);
  assert.deepEqual([removed.config.tls, removed.config.listener], [running.tls, running.listener]);
  const bare = structuredClone(running);
  delete bare.tls;
  delete bare.sinks;
  delete bare.listener;
  const added = planReload(root, bare, running);
  assert.deepEqual(added.config, { ...bare, sinks: running.sinks });
  // Present both times, a mixed section takes its live fields and keeps its restart-only ones.
  const mixed = reload((n) => (n.tls = { cert: 'b.pem', verify: true }));
  assert.deepEqual(mixed.config.tls, { cert: 'b.pem', verify: false });
});

test('a section that reloads whole is the new object, one that waits is the running one', () => {
  const p = reload((n) => {
    n.sinks!.url = 'http://b';
    n.listener!.port = 81;
  });
  assert.equal(p.config.sinks, p.next.sinks);
  assert.equal(p.config.listener, running.listener);
  const none = planReload(root, running, structuredClone(running));
  assert.deepEqual([none.applied, none.restart], [[], []]);
});

test("the NATS listener section: nats-server's defaults, the address and data directory restart-only, the limits live, its checks", () => {
  const section = clientPortSection({ port: 4222, authTimeoutMs: 3000 });
  const schema = s.table({ listener: section.extend({ own: s.integer().default(1) }), log: logSection });
  const { value } = resolveConfig(schema, {});
  assert.deepEqual(value.listener, {
    host: '127.0.0.1',
    port: 4222,
    max_payload: 1024 * 1024,
    max_connections: 65_536,
    max_control_line: 4096,
    max_pending: 64 * 1024 * 1024,
    max_subscriptions: 0,
    ping_interval: 120_000,
    ping_max: 2,
    write_deadline: 10_000,
    auth_timeout: 3000,
    lame_duck_duration: 25_000,
    lame_duck_grace_period: 10_000,
    own: 1,
  });
  const next = structuredClone(value);
  Object.assign(next.listener, {
    host: '0.0.0.0',
    port: 1,
    data_dir: '/d',
    max_payload: 10,
    ping_interval: 5,
    server_name: 'n',
    own: 2,
  });
  Object.assign(next.log, { format: 'json', level: 'warn' });
  const plan = planReload(schema, value, next);
  assert.deepEqual(
    plan.applied.map((c) => c.key),
    ['listener.max_payload', 'listener.own', 'listener.ping_interval', 'listener.server_name', 'log.level'],
  );
  assert.deepEqual(
    plan.restart.map((c) => c.key),
    ['listener.data_dir', 'listener.host', 'listener.port', 'log.format'],
  );
  // The checks travel with the section into every process's extension.
  let err: unknown;
  try {
    resolveConfig(schema, {
      listener: { max_payload: '2MB', max_pending: '1MB', lame_duck_duration: '5s', lame_duck_grace_period: '5s' },
    });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(
    err.problems.map((p) => [p.key, p.code, p.reason]),
    [
      ['listener.max_payload', 'ECONFIG_RANGE', 'must not exceed max_pending (1048576 bytes), got 2097152 bytes'],
      [
        'listener.lame_duck_grace_period',
        'ECONFIG_RANGE',
        'must be shorter than lame_duck_duration (5000 ms), got 5000 ms',
      ],
    ],
  );
});

test("timer and port settings: a Node timer's range, a TCP port's", () => {
  const schema = s.table({ t: s.timer().optional(), z: s.timer({ minMs: 0 }).optional(), p: s.port().optional() });
  assert.deepEqual(resolveConfig(schema, { t: '1ms', z: 0, p: 65535 }).value, { t: 1, z: 0, p: 65535 });
  for (const bad of [{ t: 0 }, { t: 2 ** 31 }, { p: 65536 }, { p: -1 }]) {
    assert.throws(
      () => resolveConfig(schema, bad),
      (e: unknown) => e instanceof ConfigError && e.code === 'ECONFIG_RANGE',
      JSON.stringify(bad),
    );
  }
});
