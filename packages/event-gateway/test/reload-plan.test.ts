// What a reload of the gateway puts in force, setting by setting: every key of every section changed once, and the
// optional sections added and removed, with the configuration in force and the applied / needs-a-restart split the
// reload logs and `config patch` prints. The schema says it (reload marks on its fields); this pins the outcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GatewayConfig } from '../src/config-types.js';
import { planGatewayReload } from '../src/config.js';

const MiB = 1024 * 1024;

/** A resolved configuration with every section present (the planner compares values; no file is read). */
const RUNNING: GatewayConfig = {
  gateway: {
    host: '127.0.0.1',
    port: 4222,
    max_connections: 65_536,
    max_payload: MiB,
    max_control_line: 4096,
    max_pending: 64 * MiB,
    max_subscriptions: 0,
    default_max_subscriptions: 0,
    workers: 2,
    ping_interval: 120_000,
    ping_max: 2,
    write_deadline: 10_000,
    auth_timeout: 3_000,
    server_name: 'gw-a',
    lame_duck_duration: 25_000,
    lame_duck_grace_period: 10_000,
    data_dir: '/srv/gw',
  },
  websocket: { host: '127.0.0.1', port: 8443, same_origin: false, allowed_origins: [] },
  tls: {
    cert_path: '/tls/gw.pem',
    key_path: '/tls/gw-key.pem',
    root_ca_path: '/tls/ca.pem',
    verify: true,
    min_version: 'TLSv1.2',
  },
  auth: { public_key_path: '/keys/rsa.pem', issuer: ['iss'], audience: ['aud'], clock_tolerance: 0, revoked: [] },
  upstream: {
    urls: ['nats://127.0.0.1:7422'],
    user: 'leaf',
    password: 'pw-canary',
    buffer_bytes: 8 * MiB,
    auth_stamp: 'all',
    reconnect_delay: 1_000,
    reconnect_max_delay: 10_000,
  },
  monitor: { host: '127.0.0.1', port: 8222, allowed_origins: [], allowed_hosts: [], max_connections: 128 },
  log: { format: 'text', level: 'info' },
};

function plan(change: (next: GatewayConfig) => void, running: GatewayConfig = RUNNING) {
  const next = structuredClone(running);
  change(next);
  const p = planGatewayReload(running, next);
  return {
    applied: p.applied.map((c) => c.key),
    restart: p.restart.map((c) => c.key),
    config: p.config,
    next,
    plan: p,
  };
}

test('[gateway] limits, token defaults and lame-duck timing apply live; the address, server_name and data_dir wait', () => {
  const live: Partial<Record<keyof GatewayConfig['gateway'], unknown>> = {
    max_connections: 3,
    max_payload: 1000,
    max_control_line: 2000,
    max_pending: 3000,
    max_subscriptions: 4,
    default_max_subscriptions: 2,
    default_max_payload: 500,
    ping_interval: 5000,
    ping_max: 5,
    write_deadline: 6000,
    auth_timeout: 7000,
    lame_duck_duration: 30_000,
    lame_duck_grace_period: 1000,
  };
  for (const [key, value] of Object.entries(live)) {
    const p = plan((n) => Object.assign(n.gateway, { [key]: value }));
    assert.deepEqual([p.applied, p.restart], [[`gateway.${key}`], []], key);
    assert.deepEqual(p.config, p.next, key);
  }
  for (const [key, value] of [
    ['host', '0.0.0.0'],
    ['port', 1],
    ['server_name', 'gw-b'],
    ['data_dir', '/srv/other'],
  ] as const) {
    const p = plan((n) => Object.assign(n.gateway, { [key]: value }));
    assert.deepEqual([p.applied, p.restart], [[], [`gateway.${key}`]], key);
    assert.deepEqual(p.config, RUNNING, key);
  }
  const unnamed = plan((n) => delete n.gateway.server_name);
  assert.deepEqual([unnamed.applied, unnamed.restart], [[], ['gateway.server_name']]);
  assert.equal(unnamed.config.gateway.server_name, 'gw-a');
});

test('[auth] applies live; [tls] files and min_version live, verify waits', () => {
  const auth: [string, (n: GatewayConfig) => void][] = [
    ['auth.public_key_path', (n) => (n.auth.public_key_path = '/keys/other.pem')],
    ['auth.issuer', (n) => (n.auth.issuer = ['other'])],
    ['auth.audience', (n) => (n.auth.audience = ['other'])],
    ['auth.algorithms', (n) => (n.auth.algorithms = ['RS256'])],
    ['auth.clock_tolerance', (n) => (n.auth.clock_tolerance = 1000)],
    ['auth.revoked', (n) => (n.auth.revoked = ['jti-1'])],
    ['tls.cert_path', (n) => (n.tls.cert_path = '/tls/new.pem')],
    ['tls.key_path', (n) => (n.tls.key_path = '/tls/new-key.pem')],
    ['tls.root_ca_path', (n) => (n.tls.root_ca_path = '/tls/new-ca.pem')],
    ['tls.min_version', (n) => (n.tls.min_version = 'TLSv1.3')],
    ['log.level', (n) => (n.log.level = 'debug')],
  ];
  for (const [key, change] of auth) {
    const p = plan(change);
    assert.deepEqual([p.applied, p.restart], [[key], []], key);
    assert.deepEqual(p.config, p.next, key);
  }
  const verify = plan((n) => (n.tls.verify = false));
  assert.deepEqual([verify.applied, verify.restart], [[], ['tls.verify']]);
  assert.equal(verify.config.tls.verify, true);
  const format = plan((n) => (n.log.format = 'json'));
  assert.deepEqual([format.applied, format.restart], [[], ['log.format']]);
  assert.equal(format.config.log.format, 'text');
});

test('[upstream], [websocket] and [monitor] wait for a restart, whether changed, added or removed', () => {
  const changes: [string, (n: GatewayConfig) => void][] = [
    ['upstream.urls', (n) => (n.upstream.urls = ['nats://127.0.0.1:7500'])],
    ['upstream.password', (n) => (n.upstream.password = 'pw2-canary')],
    ['upstream.buffer_bytes', (n) => (n.upstream.buffer_bytes = MiB)],
    ['upstream.auth_stamp', (n) => (n.upstream.auth_stamp = 'events')],
    ['upstream.reconnect_delay', (n) => (n.upstream.reconnect_delay = 2000)],
    ['websocket.port', (n) => (n.websocket!.port = 1)],
    ['monitor.max_connections', (n) => (n.monitor!.max_connections = 1)],
  ];
  for (const [key, change] of changes) {
    const p = plan(change);
    assert.deepEqual([p.applied, p.restart], [[], [key]], key);
    assert.deepEqual(p.config, RUNNING, key);
  }
  const secret = plan((n) => (n.upstream.password = 'pw2-canary'));
  assert.ok(!JSON.stringify(secret.plan.restart).includes('canary'), 'the password is redacted');
  for (const section of ['websocket', 'monitor'] as const) {
    const removed = plan((n) => delete n[section]);
    assert.deepEqual(removed.applied, [], section);
    assert.deepEqual(removed.config, RUNNING, section);
    const without = structuredClone(RUNNING);
    delete without[section];
    const added = plan((n) => Object.assign(n, { [section]: RUNNING[section] }), without);
    assert.deepEqual(added.applied, [], section);
    assert.equal(added.config[section], undefined, section);
  }
});

test('the configuration in force takes every live change and keeps every restart-only one, together', () => {
  const p = plan((n) => {
    n.gateway.port = 1;
    n.gateway.max_connections = 3;
    n.tls.verify = false;
    n.tls.cert_path = '/tls/new.pem';
    n.auth.revoked = ['jti-1'];
    n.upstream.urls = ['nats://127.0.0.1:7500'];
    n.log.format = 'json';
  });
  assert.deepEqual(p.applied, ['auth.revoked', 'gateway.max_connections', 'tls.cert_path']);
  assert.deepEqual(p.restart, ['gateway.port', 'log.format', 'tls.verify', 'upstream.urls']);
  const expected = structuredClone(p.next);
  expected.gateway.port = RUNNING.gateway.port;
  expected.tls.verify = RUNNING.tls.verify;
  expected.upstream = RUNNING.upstream;
  expected.log.format = RUNNING.log.format;
  assert.deepEqual(p.config, expected);
});
