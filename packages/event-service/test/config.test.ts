// The event service's settings on real files: defaults, base plus patches, every kind of bad file reported as
// `file:line: key: reason`, embedded input (durations in ms), and --print-config's redacted, re-readable TOML.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '@event-broker/shared';
import { formatConfig, loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import type { ServiceConfig } from '../src/config-types.js';
import { tmpDir } from '@event-broker/test-support/tmp';

const MiB = 1024 * 1024;

const DEFAULTS: ServiceConfig = {
  service: {
    host: '127.0.0.1',
    port: 10132,
    event_limit: 100_000,
    listener_limit: 10_000,
    max_payload: MiB,
    max_connections: 65_536,
    max_control_line: 4096,
    max_pending: 64 * MiB,
    max_subscriptions: 0,
    ping_interval: 120_000,
    ping_max: 2,
    write_deadline: 10_000,
    auth_timeout: 2_000,
    lame_duck_duration: 25_000,
    lame_duck_grace_period: 10_000,
  },
  log: { format: 'text', level: 'info' },
};

function write(dir: string, name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function refused(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('the configuration was accepted');
}

/** Asserts a single problem and that the message line reads `file:line: key: ...reason...`. */
function assertOneProblem(
  err: ConfigError,
  file: string,
  line: number,
  key: string,
  code: string,
  reason: RegExp,
): void {
  assert.equal(err.problems.length, 1, err.message);
  const p = err.problems[0]!;
  assert.deepEqual([p.file, p.line, p.key, p.code], [file, line, key, code], err.message);
  assert.match(p.reason, reason);
  assert.ok(err.message.includes(`${file}:${line}: ${key}: ${p.reason}`), err.message);
  assert.equal(err.code, code);
}

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

test('a syntax error names the file, the line and the column', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[service]', 'port = 4222', 'host = "unclosed']);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  assert.equal(err.code, 'ECONFIG_SYNTAX');
  assert.equal(err.problems[0]!.line, 3);
  assert.match(err.message, new RegExp(`${escape(file)}:3:\\d+: TOML syntax: `));
});

test('an unknown key names the key and its line and suggests the nearest valid key', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[service]', 'port = 4222', 'listner_limit = 5']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    3,
    'service.listner_limit',
    'ECONFIG_UNKNOWN_KEY',
    /did you mean "service\.listener_limit"\?/,
  );
});

test('a value of the wrong type names the file, key and line', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[service]', '', 'port = "4222"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    3,
    'service.port',
    'ECONFIG_TYPE',
    /^must be an integer from 0 to 65535, got "4222"$/,
  );
});

test('an out-of-range port is refused with the bounds and the value', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['# comment', '[service]', 'port = 70000']);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  assertOneProblem(err, file, 3, 'service.port', 'ECONFIG_RANGE', /^must be an integer from 0 to 65535, got 70000$/);
  assert.ok(err.message.includes(`${file}:3: service.port: must be an integer from 0 to 65535, got 70000`));
});

test('max_payload above nats-server 64 MiB cap is out of range', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[service]', 'max_payload = "65MB"', 'max_pending = "1GB"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    2,
    'service.max_payload',
    'ECONFIG_RANGE',
    /to 64MB, got "65MB"/,
  );
});

test('max_control_line is at most 1 MiB: a larger value, in a file or embedded, is refused naming the key and the bound', (t) => {
  const dir = tmpDir(t);
  // The bound before authentication is one control line: a huge one would let any unauthenticated socket park it.
  const file = write(dir, 'base.toml', ['[service]', 'max_control_line = "2MB"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    2,
    'service.max_control_line',
    'ECONFIG_RANGE',
    /to 1MB, got "2MB"/,
  );
  const huge = write(dir, 'huge.toml', ['[service]', 'max_control_line = 2147483647']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: huge })),
    huge,
    2,
    'service.max_control_line',
    'ECONFIG_RANGE',
    /to 1MB, got 2147483647/,
  );
  assert.throws(
    () => resolveServiceConfig({ service: { max_control_line: 64 * MiB } }),
    (err: Error) => err instanceof ConfigError && /service\.max_control_line: .*to 1MB/.test(err.message),
  );
  const cap = write(dir, 'cap.toml', ['[service]', 'max_control_line = "1MiB"']);
  assert.equal(
    loadServiceConfig({ configPath: cap }).config.service.max_control_line,
    MiB,
    'the bound itself is accepted',
  );
});

test('max_payload larger than max_pending is refused as nats-server does', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[service]', 'max_payload = "8MB"', 'max_pending = "4MB"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    2,
    'service.max_payload',
    'ECONFIG_RANGE',
    /max_pending/,
  );
});

test('a duration string that does not parse is refused naming key and line', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[service]', 'ping_interval = "2 minutes"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    2,
    'service.ping_interval',
    'ECONFIG_VALUE',
    /must be a duration .*got "2 minutes"/,
  );
});

test('a size string that does not parse is refused naming key and line', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[service]', 'max_pending = "64XB"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    2,
    'service.max_pending',
    'ECONFIG_VALUE',
    /must be a size .*got "64XB"/,
  );
});

test('an unknown log level lists the accepted ones', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[log]', 'level = "verbose"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    2,
    'log.level',
    'ECONFIG_VALUE',
    /one of "trace", .*"silent", got "verbose"/,
  );
});

test('a [tls] table without key_path is missing a required key, reported at the table line', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[service]', 'port = 1', '[tls]', 'cert_path = "c.pem"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    3,
    'tls.key_path',
    'ECONFIG_MISSING',
    /is required/,
  );
});

test('[websocket] without a port is missing a required key', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[websocket]', 'host = "127.0.0.1"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    1,
    'websocket.port',
    'ECONFIG_MISSING',
    /is required/,
  );
});

test('tls verify = true without root_ca_path is refused at the verify line', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[tls]', 'cert_path = "c.pem"', 'key_path = "k.pem"', 'verify = true']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    4,
    'tls.root_ca_path',
    'ECONFIG_MISSING',
    /verify = true/,
  );
});

test('an empty token is refused rather than meaning "no auth"', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[service]', 'token = ""']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    2,
    'service.token',
    'ECONFIG_VALUE',
    /must not be empty/,
  );
});

test('a missing config file is ECONFIG_FILE naming the path', (t) => {
  const dir = tmpDir(t);
  const missing = path.join(dir, 'nope.toml');
  const err = refused(() => loadServiceConfig({ configPath: missing }));
  assert.equal(err.code, 'ECONFIG_FILE');
  assert.equal(err.problems[0]!.file, missing);
  assert.match(err.message, new RegExp(`${escape(missing)}: cannot read the file: no such file`));
});

test('problems from the base and the patches are reported together, each with file, line and key', (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', [
    '[service]',
    'port = -1',
    'event_limit = 0',
    'ping_max = "two"',
    '[log]',
    'format = "xml"',
  ]);
  const patch = write(dir, 'patch.toml', ['[websocket]', 'port = 99999', 'no_tls = 1', '[servce]']);
  const err = refused(() => loadServiceConfig({ configPath: base, patchPaths: [patch] }));
  assert.deepEqual(
    err.problems.map((p) => `${path.basename(p.file)}:${p.line}: ${p.key}: ${p.code}`),
    [
      'base.toml:2: service.port: ECONFIG_RANGE',
      'base.toml:3: service.event_limit: ECONFIG_RANGE',
      'base.toml:4: service.ping_max: ECONFIG_TYPE',
      'base.toml:6: log.format: ECONFIG_VALUE',
      'patch.toml:2: websocket.port: ECONFIG_RANGE',
      'patch.toml:3: websocket.no_tls: ECONFIG_TYPE',
      'patch.toml:4: servce: ECONFIG_UNKNOWN_KEY',
    ],
  );
  for (const p of err.problems) assert.ok(err.message.includes(`${p.file}:${p.line}: ${p.key}: ${p.reason}`));
  assert.match(err.message, /servce: unknown key \(did you mean "service"\?\)/);
});

test('[websocket] allowed_origins, [monitor] allowed_origins/allowed_hosts and max_streams: each problem named with its line', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 's.toml', [
    '[websocket]',
    'port = 0',
    'allowed_origins = ["https://app.example", "*"]',
    '[monitor]',
    'port = 0',
    'allowed_origins = ["app.example"]',
    'allowed_hosts = ["monitor.example", "http://x.example"]',
  ]);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  assert.deepEqual(
    err.problems.map((p) => `${path.basename(p.file)}:${p.line}: ${p.key}: ${p.code}`),
    [
      's.toml:3: websocket.allowed_origins[1]: ECONFIG_VALUE',
      's.toml:6: monitor.allowed_origins[0]: ECONFIG_VALUE',
      's.toml:7: monitor.allowed_hosts[1]: ECONFIG_VALUE',
    ],
  );
  assert.match(err.message, /"\*" would let every web page in/);
  const streams = refused(() =>
    loadServiceConfig({
      configPath: write(dir, 'm.toml', ['[monitor]', 'port = 0', 'max_connections = 10', 'max_streams = 11']),
    }),
  );
  assert.deepEqual(
    streams.problems.map((p) => `${p.line}: ${p.key}: ${p.code}`),
    ['4: monitor.max_streams: ECONFIG_RANGE'],
  );
  const ok = loadServiceConfig({
    configPath: write(dir, 'ok.toml', [
      '[websocket]',
      'port = 0',
      'same_origin = true',
      'allowed_origins = ["http://localhost:8080"]',
    ]),
  });
  assert.deepEqual(ok.config.websocket, {
    host: '127.0.0.1',
    port: 0,
    no_tls: false,
    same_origin: true,
    allowed_origins: ['http://localhost:8080'],
  });
});

test('allowed_origins and allowed_hosts: every bad element is reported at once, not only the first', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 's.toml', [
    '[websocket]',
    'port = 0',
    'allowed_origins = ["*", "https://ok.example", "app.example", 3]',
    '[monitor]',
    'port = 0',
    'allowed_hosts = ["http://x.example", "ok.example", "y.example/path"]',
  ]);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  assert.deepEqual(
    err.problems.map((p) => `${p.line}: ${p.key}: ${p.code}`),
    [
      '3: websocket.allowed_origins[0]: ECONFIG_VALUE',
      '3: websocket.allowed_origins[2]: ECONFIG_VALUE',
      '3: websocket.allowed_origins[3]: ECONFIG_TYPE',
      '6: monitor.allowed_hosts[0]: ECONFIG_VALUE',
      '6: monitor.allowed_hosts[2]: ECONFIG_VALUE',
    ],
  );
});

test('[[leafnodes.authorization.users]]: every problem of every entry is reported at once, each with its line', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'l.toml', [
    '[leafnodes]',
    'port = 0',
    '[[leafnodes.authorization.users]]',
    'user = "a"',
    'password = "pa"',
    'colour = "red"',
    '[[leafnodes.authorization.users]]',
    'password = 7',
    '[[leafnodes.authorization.users]]',
    'user = "a"',
    'password = "pb"',
  ]);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  assert.deepEqual(
    err.problems.map((p) => `${p.line}: ${p.key}: ${p.code}`),
    [
      '6: leafnodes.authorization.users[0].colour: ECONFIG_UNKNOWN_KEY',
      '7: leafnodes.authorization.users[1].user: ECONFIG_MISSING',
      '8: leafnodes.authorization.users[1].password: ECONFIG_TYPE',
      '10: leafnodes.authorization.users[2].user: ECONFIG_VALUE',
    ],
  );
  assert.match(err.message, /users\[2\]\.user: "a" is listed twice/);
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

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
