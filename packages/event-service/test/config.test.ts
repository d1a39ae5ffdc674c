// The event service's settings loaded (helpers/service-config.ts): the embedded defaults, a base plus patches key by
// key and in order, paths relative to the file naming them, embedded input (durations in ms), and --print-config's
// redacted, re-readable TOML. Each setting's own rules are config-values.test.ts's; how problems are reported
// (syntax, unknown keys, a missing file, many at once) is config-problems.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { formatConfig, loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { DEFAULTS, MiB, escape, refused } from './helpers/service-config.js';

test('without a file the embedded defaults apply', () => {
  const { config, sources } = loadServiceConfig({});
  assert.deepEqual(config, DEFAULTS);
  assert.deepEqual(sources.get('service.port'), { kind: 'default' });
  assert.deepEqual(resolveServiceConfig({}), DEFAULTS);
  assert.deepEqual(resolveServiceConfig(), DEFAULTS);
});

test('a patch overrides the base key by key; the rest of the base stays', (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', [
    '[service]',
    'host = "127.0.0.1"',
    'port = 4222',
    'ping_interval = 30',
    '',
    '[log]',
    'format = "json"',
  ]);
  const patch = write(dir, 'prod.toml', ['[service]', 'port = 5222', 'max_payload = "8MB"', '[log]', 'level = "warn"']);
  const { config, sources } = loadServiceConfig({ configPath: base, patchPaths: [patch] });
  assert.equal(config.service.host, '127.0.0.1');
  assert.equal(config.service.port, 5222);
  assert.equal(config.service.ping_interval, 30_000, 'an integer duration in a file is seconds');
  assert.equal(config.service.max_payload, 8 * MiB);
  assert.deepEqual(config.log, { format: 'json', level: 'warn' });
  assert.deepEqual(sources.get('service.port'), { kind: 'patch', file: patch, line: 2, patch: 0 });
  assert.deepEqual(sources.get('service.host'), { kind: 'base', file: base, line: 2 });
  assert.deepEqual(sources.get('log.level'), { kind: 'patch', file: patch, line: 5, patch: 0 });
});

test('patches apply in order and the later one wins', (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', ['[service]', 'port = 1']);
  const a = write(dir, 'a.toml', ['[service]', 'port = 2', 'write_deadline = "5s"']);
  const b = write(dir, 'b.toml', ['[service]', 'port = 3']);
  const { config } = loadServiceConfig({ configPath: base, patchPaths: [a, b] });
  assert.equal(config.service.port, 3);
  assert.equal(config.service.write_deadline, 5000);
  assert.equal(loadServiceConfig({ configPath: base, patchPaths: [b, a] }).config.service.port, 2);
});

test('TLS paths resolve against the directory of the file that names them', (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'etc/base.toml', [
    '[tls]',
    'cert_path = "certs/server.pem"',
    'key_path = "/secure/server.key"',
  ]);
  const patch = write(dir, 'patches/ca.toml', ['[tls]', 'root_ca_path = "../ca/root.pem"', 'verify = true']);
  const { config } = loadServiceConfig({ configPath: base, patchPaths: [patch] });
  assert.deepEqual(config.tls, {
    cert_path: path.join(dir, 'etc/certs/server.pem'),
    key_path: '/secure/server.key',
    root_ca_path: path.join(dir, 'ca/root.pem'),
    verify: true,
  });
});

test('embedded input is validated the same way, with numeric durations in milliseconds', () => {
  const config = resolveServiceConfig({
    service: { port: 0, ping_interval: 1500, write_deadline: '3s', max_payload: '2MB', token: 'tok' },
    websocket: { port: 0 },
    log: { level: 'silent' },
  });
  assert.equal(config.service.ping_interval, 1500);
  assert.equal(config.service.write_deadline, 3000);
  assert.equal(config.service.max_payload, 2 * MiB);
  assert.equal(config.service.token, 'tok');
  assert.deepEqual(config.websocket, {
    host: '127.0.0.1',
    port: 0,
    no_tls: false,
    same_origin: false,
    allowed_origins: [],
  });
  assert.equal(config.tls, undefined);

  const err = refused(() =>
    resolveServiceConfig({
      service: { port: 65536, auth_timeout: -5 },
      log: { format: 'yaml' as 'json' },
      tls: { cert_path: 'c' },
    }),
  );
  assert.deepEqual(
    err.problems.map((p) => `${p.file}: ${p.key}: ${p.code}`),
    [
      '<embedded>: service.port: ECONFIG_RANGE',
      '<embedded>: service.auth_timeout: ECONFIG_RANGE',
      '<embedded>: tls.key_path: ECONFIG_MISSING',
      '<embedded>: log.format: ECONFIG_VALUE',
    ],
  );
  assert.match(err.message, /<embedded>: service\.port: must be an integer from 0 to 65535, got 65536/);
});

test('embedded input refuses a duration beyond what a Node timer can hold', () => {
  const err = refused(() => resolveServiceConfig({ service: { ping_interval: 2 ** 31 } }));
  assert.equal(err.problems[0]!.key, 'service.ping_interval');
  assert.equal(err.code, 'ECONFIG_RANGE');
});

test('formatConfig redacts the token and reads back to the same configuration', (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', [
    '[service]',
    'port = 4222',
    'token = "s3cr3t-token"',
    'server_name = "es-1"',
    'ping_interval = "90s"',
    'max_payload = 1000',
    'max_pending = "128MB"',
    '[tls]',
    'cert_path = "c.pem"',
    'key_path = "k.pem"',
    'root_ca_path = "ca.pem"',
    'verify = true',
    '[websocket]',
    'port = 8443',
    '[log]',
    'format = "json"',
  ]);
  const { config, sources } = loadServiceConfig({ configPath: base });
  const text = formatConfig(config);
  assert.doesNotMatch(text, /s3cr3t/);
  assert.match(text, /^token = "<redacted>"$/m);
  assert.match(text, /^ping_interval = "1m30s"$/m);
  assert.match(text, /^max_payload = 1000$/m);
  assert.match(text, /^max_pending = "128MB"$/m);

  const out = write(dir, 'printed.toml', [text]);
  const back = loadServiceConfig({ configPath: out }).config;
  assert.deepEqual(back, { ...config, service: { ...config.service, token: '<redacted>' } });

  const annotated = formatConfig(config, sources);
  assert.match(annotated, new RegExp(`^port = 4222  # ${escape(base)}:2$`, 'm'));
  assert.match(annotated, new RegExp(`^token = "<redacted>"  # ${escape(base)}:3$`, 'm'));
  assert.match(annotated, /^event_limit = 100000 {2}# default$/m);
  assert.doesNotMatch(annotated, /s3cr3t/);
});

test('formatConfig of the defaults reads back to the defaults', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'defaults.toml', [formatConfig(DEFAULTS)]);
  assert.deepEqual(loadServiceConfig({ configPath: file }).config, DEFAULTS);
});
