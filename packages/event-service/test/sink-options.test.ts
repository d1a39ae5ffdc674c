// The sink options of issue 14 as the config reads them (handlers/sink-options.ts, sink-config.ts): TLS files for
// https and grpcs receivers (cert and key together, paths resolved against the file), backoff, rate and burst, match
// lists, "!" exclusions, grpc(s) URLs, and [sinks.NAME] (safe names, not a handler's, a bound, refused with the
// JetStream backend). Every problem is `file:line: key: reason`; what is accepted prints back and reads the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ConfigError } from '@event-broker/shared';
import { formatConfig, loadServiceConfig } from '../src/config.js';
import { httpSinkOptions } from '../src/handlers/sinks/options.js';
import { MAX_NAMED_SINKS } from '../src/handlers/sink-config.js';
import { createSinkTransport } from '../src/handlers/sinks/transport-by-scheme.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { refused } from './helpers/service-config.js';

/** A problem at `file:line` for `key` whose reason matches `reason`, read as `file:line: key: reason` in the message. */
function assertProblem(err: ConfigError, file: string, line: number, key: string, reason: RegExp): void {
  const p = err.problems.find((x) => x.file === file && x.line === line && x.key === key && reason.test(x.reason));
  assert.ok(p, `no problem at ${file}:${line}: ${key} matching ${reason} in:\n${err.message}`);
  assert.ok(err.message.includes(`${file}:${line}: ${key}: ${p.reason}`), err.message);
}

test('the new sink keys are read, resolved and mapped to the pumps; printed back they read the same', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', [
    '[handlers.feed]',
    'url = "https://feed.example/in"',
    'ca_path = "pki/ca.pem"',
    'cert_path = "/etc/pki/client.pem"',
    'key_path = "pki/client.key"',
    'backoff = { base = "250ms", max = "30s" }',
    'rate = 2.5',
    'burst = 10',
    'filter = ["scanJob:*", "!scanJob:deleted"]',
    '[sinks.audit-log]',
    'url = "grpcs://collector.example:4317"',
    'match = { producer = ["p1"], tags = ["pci", "sox"], projects = ["prj"], authid = ["alice"] }',
    '[sinks.plain]',
    'url = "grpc://127.0.0.1:50051"',
    'backoff = { max = "2s" }',
  ]);
  const { config } = loadServiceConfig({ configPath: file });
  const feed = config.handlers!.feed!;
  assert.equal(feed.ca_path, path.join(dir, 'pki/ca.pem'));
  assert.equal(feed.cert_path, '/etc/pki/client.pem');
  assert.equal(feed.key_path, path.join(dir, 'pki/client.key'));
  assert.deepEqual(feed.backoff, { base_ms: 250, max_ms: 30_000 });
  assert.equal(feed.rate, 2.5);
  assert.equal(feed.burst, 10);
  assert.deepEqual(feed.filter, ['scanJob:*', '!scanJob:deleted']);
  const opts = httpSinkOptions(feed);
  assert.equal(opts.backoffBaseMs, 250);
  assert.equal(opts.backoffCapMs, 30_000);
  assert.deepEqual([opts.rate, opts.burst], [2.5, 10]);
  assert.deepEqual(opts.tls, { caPath: feed.ca_path, certPath: feed.cert_path, keyPath: feed.key_path });
  const audit = config.sinks!['audit-log']!;
  assert.equal(audit.url, 'grpcs://collector.example:4317');
  assert.deepEqual(audit.match, { producer: ['p1'], tags: ['pci', 'sox'], projects: ['prj'], authid: ['alice'] });
  assert.deepEqual(audit.filter, []);
  assert.equal(config.sinks!.plain!.url, 'grpc://127.0.0.1:50051');
  assert.deepEqual(config.sinks!.plain!.backoff, { base_ms: 500, max_ms: 2000 });

  const printed = formatConfig(config);
  assert.ok(printed.includes('key_path = '), 'key paths print as they are (a path is not a secret)');
  const again = loadServiceConfig({ configPath: write(dir, 'printed.toml', printed.split('\n')) }).config;
  assert.deepEqual(again.handlers, config.handlers);
  assert.deepEqual(again.sinks, config.sinks);
});

test('every bad new sink key is refused in one pass, each as file:line: key: reason', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', [
    '[handlers.feed]', // 1
    'url = "http://127.0.0.1:9/"', // 2
    'ca_path = "ca.pem"', // 3: TLS files on http://
    'cert_path = "c.pem"', // 4: without key_path, and on http://
    'backoff = { base = "5m", max = "1s" }', // 5: base above max
    'rate = 0', // 6
    'burst = 0', // 7
    'filter = ["!!profile:*", "profile"]', // 8
    '[sinks.bad]', // 9
    'url = "grpc://127.0.0.1"', // 10: no port
    'burst = 3', // 11: without rate
    'match = { tags = [], owner = ["x"] }', // 12
    'backoff = { base = "fast", min = "1s" }', // 13
    '[sinks."9lives"]', // 14: starts with a digit
    'url = "http://127.0.0.1:9/"', // 15
    '[sinks.feed]', // 16: a handler's name
    'url = "http://127.0.0.1:9/"', // 17
    '[sinks.pw]', // 18
    'url = "grpc://:pw@127.0.0.1:9"', // 19: a password gRPC would drop
  ]);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  assertProblem(err, file, 3, 'handlers.feed.ca_path', /https:\/\/ and grpcs:\/\/ receivers only/);
  assertProblem(err, file, 4, 'handlers.feed.cert_path', /https:\/\/ and grpcs:\/\/ receivers only/);
  assertProblem(err, file, 4, 'handlers.feed.cert_path', /needs key_path too/);
  assertProblem(err, file, 5, 'handlers.feed.backoff.base', /must not exceed max \(1s\), got 5m/);
  assertProblem(err, file, 6, 'handlers.feed.rate', /above 0/);
  assertProblem(err, file, 7, 'handlers.feed.burst', /integer from 1/);
  assertProblem(err, file, 8, 'handlers.feed.filter[0]', /"!noun:verb" to exclude/);
  assertProblem(err, file, 8, 'handlers.feed.filter[1]', /must be "noun:verb"/);
  assertProblem(err, file, 10, 'sinks.bad.url', /grpc\(s\):\/\/host:port/);
  assertProblem(err, file, 11, 'sinks.bad.burst', /without rate/);
  assertProblem(err, file, 12, 'sinks.bad.match.tags', /non-empty array/);
  assertProblem(err, file, 12, 'sinks.bad.match.owner', /unknown key \(known: producer, tags, projects, authid\)/);
  assertProblem(err, file, 13, 'sinks.bad.backoff.base', /duration/);
  assertProblem(err, file, 13, 'sinks.bad.backoff.min', /unknown key/);
  assertProblem(err, file, 14, 'sinks.9lives', /letters, digits, "_" or "-", starting with a letter/);
  assertProblem(err, file, 16, 'sinks.feed', /a handler's name: configure it under \[handlers\.feed\]/);
  assertProblem(err, file, 19, 'sinks.pw.url', /grpc\(s\):\/\/host:port/);
});

test(`more than ${MAX_NAMED_SINKS} named sinks are refused`, (t) => {
  const dir = tmpDir(t);
  const lines = Array.from({ length: MAX_NAMED_SINKS + 1 }, (_, i) => `s${i} = "127.0.0.1:9"`);
  const file = write(dir, 'base.toml', ['[sinks]', ...lines]);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  assertProblem(err, file, 1, 'sinks', new RegExp(`at most ${MAX_NAMED_SINKS} named sinks, got 65`));
});

test('named sinks with [store] backend = "jetstream" are refused at config check, at the sink line', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', [
    '[store]', // 1
    'backend = "jetstream"', // 2
    '[[leafnodes.remotes]]', // 3
    'urls = ["nats://127.0.0.1:7422"]', // 4
    '[handlers]', // 5
    'feed = "127.0.0.1:9"', // 6: fine: a handler has a routing slot
    '[sinks.audit]', // 7
    'url = "http://127.0.0.1:9/"', // 8
  ]);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  assert.equal(err.problems.length, 1, err.message);
  assertProblem(err, file, 7, 'sinks.audit', /need \[store\] backend = "sqlite": the JetStream layout/);
});

test('a grpc(s) sink refuses the HTTP-only keys and headers gRPC metadata cannot carry, each as file:line: key: reason', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', [
    '[sinks.audit]', // 1
    'url = "grpcs://collector.example:4317"', // 2
    'secret = "whsec_c2VjcmV0"', // 3: Standard Webhooks signing is HTTP's
    'extra_args = { site = "eu" }', // 4
    'flatten_payload = true', // 5
    'send_as_list = true', // 6
    '[sinks.audit.headers]', // 7
    '"X-Trace-Bin" = "abc"', // 8: a binary metadata key needs bytes
    '"grpc-timeout" = "1S"', // 9: the protocol's own
    '"x!tenant" = "a"', // 10: an HTTP token, not a metadata key
    '"content-type" = "text/plain"', // 11: grpc-js sets its own
    'authorization = "Bearer a\tb"', // 12: a tab: not printable ASCII for metadata
    'x-tenant = "acme"', // 13: fine
    '[sinks.web]', // 14
    'url = "https://web.example/in"', // 15
    'secret = "whsec_c2VjcmV0"', // 16: fine over https
    'flatten_payload = true', // 17
    'headers = { "x!tenant" = "a" }', // 18: fine over https
  ]);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  assertProblem(err, file, 3, 'sinks.audit.secret', /http\(s\) receivers only.*gRPC/);
  assertProblem(err, file, 4, 'sinks.audit.extra_args', /http\(s\) receivers only/);
  assertProblem(err, file, 5, 'sinks.audit.flatten_payload', /http\(s\) receivers only/);
  assertProblem(err, file, 6, 'sinks.audit.send_as_list', /http\(s\) receivers only/);
  assertProblem(err, file, 8, 'sinks.audit.headers.X-Trace-Bin', /-bin/);
  assertProblem(err, file, 9, 'sinks.audit.headers.grpc-timeout', /grpc-/);
  assertProblem(err, file, 10, 'sinks.audit.headers."x!tenant"', /gRPC metadata key/);
  assertProblem(err, file, 11, 'sinks.audit.headers.content-type', /set by gRPC/);
  assertProblem(err, file, 12, 'sinks.audit.headers.authorization', /offset 8/);
  assert.ok(!err.message.includes('Bearer'), 'a header value is never echoed');
  assert.equal(err.problems.length, 9, err.message);
});

test('a program building a gRPC sink with a header metadata cannot carry is told at construction, never the value', () => {
  const build = () =>
    createSinkTransport(
      { name: 'audit', url: 'grpc://127.0.0.1:9', headers: { 'x-token-bin': 'hunter2' }, logger: console },
      1,
    );
  assert.throws(build, (err: unknown) => {
    assert.ok(err instanceof TypeError);
    assert.match(err.message, /sink audit: header "x-token-bin": .*-bin/);
    assert.ok(!err.message.includes('hunter2'));
    return true;
  });
});
