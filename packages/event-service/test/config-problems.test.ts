// How the event service reports a bad configuration (helpers/service-config.ts): a TOML syntax error with its
// column, an unknown key with the nearest valid one, a missing file, and every problem of the base, the patches,
// the origin and host lists and the leafnode users at once, each with file, line and key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadServiceConfig } from '../src/config.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { assertOneProblem, escape, refused } from './helpers/service-config.js';

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
