// The gateway's settings on real files (helpers/config-files.ts): defaults, every section and unit spelling, patches,
// paths relative to the file naming them, mistakes listed together with their lines, an unknown section refused as
// the service refuses one, embedded input, and printed TOML that loads back the same. The rules of [auth] are
// config-auth.test.ts's; those of [upstream], [gateway]'s limits and [tls] config-sections.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { formatGatewayConfig, loadGatewayConfig, resolveGatewayConfig } from '../src/config.js';
import type { GatewayConfig, GatewayConfigInput } from '../src/config-types.js';
import { write } from '@event-broker/test-support/tmp';
import { MiB, assertOneProblem, conf, files, minimal, refused } from './helpers/config-files.js';

test('a minimal file gets nats-server defaults, paths relative to the file, normalised URLs', async (t) => {
  const f = await files(t);
  const file = conf(f, 'gateway.toml', minimal());
  const { config, sources } = loadGatewayConfig({ configPath: file });
  const expected: GatewayConfig = {
    gateway: {
      host: '127.0.0.1',
      port: 4222,
      max_connections: 65_536,
      max_payload: MiB,
      max_control_line: 4096,
      max_pending: 64 * MiB,
      max_subscriptions: 0,
      default_max_subscriptions: 0,
      // One per core (at most 64): whatever this machine has.
      workers: Math.min(64, os.availableParallelism()),
      ping_interval: 120_000,
      ping_max: 2,
      write_deadline: 10_000,
      auth_timeout: 3_000,
      lame_duck_duration: 25_000,
      lame_duck_grace_period: 10_000,
    },
    tls: {
      cert_path: path.join(f.dir, 'tls/server.pem'),
      key_path: path.join(f.dir, 'tls/server-key.pem'),
      root_ca_path: path.join(f.dir, 'tls/ca.pem'),
      verify: true,
      min_version: 'TLSv1.2',
    },
    auth: {
      public_key_path: path.join(f.dir, 'keys/rsa.pem'),
      issuer: ['https://issuer.test'],
      audience: ['event-gateway', 'other'],
      clock_tolerance: 0,
      revoked: [],
    },
    upstream: {
      urls: ['nats://127.0.0.1:7422', 'tls://event-service.internal:7500'],
      buffer_bytes: 8 * MiB,
      auth_stamp: 'all',
      reconnect_delay: 1_000,
      reconnect_max_delay: 10_000,
    },
    log: { format: 'text', level: 'info' },
  };
  assert.deepEqual(config, expected);
  assert.deepEqual(sources.get('auth.public_key_path'), { kind: 'base', file, line: 7 });
  assert.deepEqual(sources.get('gateway.port'), { kind: 'default' });
});

test('every section and unit spelling, with a patch over the base', async (t) => {
  const f = await files(t);
  const base = conf(f, 'gateway.toml', [
    ...minimal(
      [
        'jwks_path = "../keys/jwks.json"',
        'algorithms = ["ES256"]',
        'clock_tolerance = "5s"',
        'revoked = ["jti-1", "jti-2"]',
      ],
      [
        'cert_path = "../tls/upstream.pem"',
        'key_path = "../tls/upstream-key.pem"',
        'buffer_bytes = "16MB"',
        'reconnect_delay = "250ms"',
        'reconnect_max_delay = 5',
      ],
    ),
    '[gateway]',
    'host = "127.0.0.1"',
    'port = 0',
    'ping_interval = "30s"',
    'server_name = "gw-1"',
    '[websocket]',
    'port = 8443',
    '[monitor]',
    'port = 8222',
    '[log]',
    'format = "json"',
  ]);
  const patch = write(
    f.dir,
    'patches/prod.toml',
    [
      '[gateway]',
      'port = 4443',
      'max_payload = "2MB"',
      '[tls]',
      'min_version = "TLSv1.3"',
      '[auth]',
      'revoked = []',
    ].join('\n'),
  );
  const { config, sources } = loadGatewayConfig({ configPath: base, patchPaths: [patch] });
  assert.equal(config.gateway.host, '127.0.0.1');
  assert.equal(config.gateway.port, 4443);
  assert.equal(config.gateway.max_payload, 2 * MiB);
  assert.equal(config.gateway.ping_interval, 30_000);
  assert.equal(config.gateway.server_name, 'gw-1');
  assert.deepEqual(config.websocket, { host: '127.0.0.1', port: 8443, same_origin: false, allowed_origins: [] });
  assert.deepEqual(config.monitor, {
    host: '127.0.0.1',
    port: 8222,
    allowed_origins: [],
    allowed_hosts: [],
    max_connections: 128,
  });
  assert.equal(config.tls.min_version, 'TLSv1.3');
  assert.deepEqual(config.auth.algorithms, ['ES256']);
  assert.equal(config.auth.clock_tolerance, 5_000);
  assert.deepEqual(config.auth.revoked, []);
  assert.equal(config.upstream.cert_path, path.join(f.dir, 'tls/upstream.pem'));
  assert.equal(config.upstream.buffer_bytes, 16 * MiB);
  assert.equal(config.upstream.reconnect_delay, 250);
  assert.equal(config.upstream.reconnect_max_delay, 5_000, 'an integer duration in a file is seconds');
  assert.equal(config.log.format, 'json');
  assert.deepEqual(sources.get('gateway.port'), { kind: 'patch', file: patch, line: 2, patch: 0 });
});

test('mistakes elsewhere are listed together, each with its line', async (t) => {
  const f = await files(t);
  const file = conf(f, 'many.toml', [
    ...minimal(),
    '[gateway]',
    'prot = 4222',
    'max_payload = "128MB"',
    'ping_max = 0',
    '[log]',
    'level = "loud"',
  ]);
  const err = refused(() => loadGatewayConfig({ configPath: file }));
  assert.deepEqual(
    err.problems.map((p) => `${p.line}: ${p.key}`),
    ['14: gateway.prot', '15: gateway.max_payload', '16: gateway.ping_max', '18: log.level'],
  );
  assert.match(err.problems[0]!.reason, /did you mean "gateway.port"/);
});

test('resolveGatewayConfig: embedded input, durations in ms, a string issuer as a list, the key checked too', async (t) => {
  const f = await files(t);
  const input = {
    tls: { cert_path: 'c.pem', key_path: 'k.pem', verify: false },
    auth: { secret_path: path.join(f.dir, 'keys/secret'), issuer: 'me', audience: 'you', clock_tolerance: 1500 },
    upstream: { urls: 'nats://127.0.0.1:7422', reconnect_delay: '2s' },
  };
  const c = resolveGatewayConfig(input);
  assert.deepEqual(c.auth.issuer, ['me']);
  assert.equal(c.auth.clock_tolerance, 1500);
  assert.equal(c.upstream.reconnect_delay, 2000);
  assert.equal(c.tls.cert_path, path.resolve('c.pem'));
  const bad = refused(() =>
    resolveGatewayConfig({ ...input, auth: { ...input.auth, secret_path: path.join(f.dir, 'keys/short-secret') } }),
  );
  assert.equal(bad.problems[0]!.file, '<embedded>');
  assert.equal(bad.problems[0]!.key, 'auth.secret_path');
});

test('formatGatewayConfig prints TOML that loads back to the same configuration', async (t) => {
  const f = await files(t);
  const base = conf(
    f,
    'gateway.toml',
    minimal(['jwks_path = "../keys/jwks.json"', 'revoked = ["a"]'], ['buffer_bytes = "16MB"']),
  );
  const { config, sources } = loadGatewayConfig({ configPath: base });
  const text = formatGatewayConfig(config, sources);
  assert.match(text, new RegExp(`jwks_path = ".*jwks\\.json"  # ${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7`));
  const again = write(f.dir, 'printed.toml', formatGatewayConfig(config));
  assert.deepEqual(loadGatewayConfig({ configPath: again }).config, config);
});

test('an unknown top-level section is refused as the service refuses one: `file:line: key: reason`, ECONFIG_UNKNOWN_KEY', async (t) => {
  const f = await files(t);
  const base = conf(f, 'gateway.toml', minimal());
  const typo = conf(f, 'typo.toml', ['[upstreams]', 'buffer_bytes = "16MB"']);
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: base, patchPaths: [typo] })),
    typo,
    1,
    'upstreams',
    'ECONFIG_UNKNOWN_KEY',
    /^unknown key \(did you mean "upstream"\?\)$/,
  );
  // A section only the event service has: named, with the sections the gateway knows.
  const elsewhere = conf(f, 'elsewhere.toml', [...minimal(), '', '[leafnodes]', 'port = 7422']);
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: elsewhere })),
    elsewhere,
    14,
    'leafnodes',
    'ECONFIG_UNKNOWN_KEY',
    /^unknown key \(known here: gateway, websocket, tls, auth, upstream, monitor, log\)$/,
  );
  // An embedding program's object, the same.
  const embedded = refused(() =>
    resolveGatewayConfig({ ...loadGatewayConfig({ configPath: base }).config, store: {} } as GatewayConfigInput),
  );
  assert.deepEqual(
    embedded.problems.map((p) => [p.file, p.key, p.code]),
    [['<embedded>', 'store', 'ECONFIG_UNKNOWN_KEY']],
  );
});
