// Each of the event service's settings refused on a real file when its value is wrong (helpers/service-config.ts):
// types, ranges and nats-server's caps (port, max_payload, max_control_line, max_payload against max_pending),
// durations and sizes that do not parse, log levels, the required keys of [tls] and [websocket], and an empty
// token. Each refusal is one problem reading `file:line: key: reason` with its code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@event-broker/shared';
import { loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { MiB, assertOneProblem, refused } from './helpers/service-config.js';

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
