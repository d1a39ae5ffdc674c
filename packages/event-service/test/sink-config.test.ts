// [handlers] sink tables that cannot work are refused when the file is read, never discovered one dead letter at a
// time: headers Node would refuse to send (a name that is not an RFC 9110 token, a CR, LF, NUL or other control
// character in a value) or that break delivery (framing and hop-by-hop headers the sink sets itself), every problem
// of every sink in one pass as `file:line: key: reason`, at start (the CLI exits 2) and on reload (SIGHUP refused,
// the running sinks unchanged, checked at a real node:http receiver).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fc from 'fast-check';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { ConfigError } from '@event-broker/shared';
import { loadServiceConfig } from '../src/config.js';
import { headerProblem, SINK_OWNED_HEADERS } from '../src/handlers/sinks/headers.js';
import { HttpSink } from '../src/handlers/sinks/http.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { CHILD_MS, jsonLines, logLine, signal } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { cli, startCli } from './helpers/cli.js';
import { startReceiver } from '@event-broker/test-support/http';

const HOST = '127.0.0.1';
/** Generous: the child shares the machine with the rest of the suite. */
const WAIT_MS = 20_000;
const sc = StringCodec();

function refused(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('the configuration was accepted');
}

/** The problem reported at `file:line` for `key`, asserting the message carries it as one `file:line: key: reason` line. */
function problemAt(err: ConfigError, file: string, line: number, key: string): { reason: string; code: string } {
  const p = err.problems.find((x) => x.file === file && x.line === line && x.key === key);
  assert.ok(p, `no problem at ${file}:${line}: ${key} in:\n${err.message}`);
  assert.ok(err.message.includes(`${file}:${line}: ${key}: ${p.reason}`), err.message);
  return p;
}

/** A webhook receiver answering 204 to everything. */
const receiver = (t: TestContext) => startReceiver(t, { status: () => 204, path: '/hook' });

async function publish(nc: NatsConnection, id: string): Promise<void> {
  const event = { specversion: '1.0', id, source: '/sink-config-test', type: 'scanJobCreated' };
  const reply = await nc.request('events.scanJobCreated', sc.encode(JSON.stringify(event)), { timeout: WAIT_MS });
  assert.equal((JSON.parse(sc.decode(reply.data)) as { id: string }).id, id, 'acknowledged');
}

test('sink headers that cannot be sent, or that break delivery, are refused at load, each as file:line: key: reason', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', [
    '[handlers.event_feed]', // 1
    'url = "http://127.0.0.1:9/hook"', // 2
    '[handlers.event_feed.headers]', // 3
    '"x-tenant" = "acme"', // 4: fine
    '"authorization" = "Bearer\\tabc"', // 5: fine (HTAB is allowed inside a value)
    '"content-type" = "application/cloudevents+json"', // 6: fine (the sink's default, meant to be overridable)
    '"bad name" = "v"', // 7: a space is not a token character
    '"x-crlf" = "a\\r\\nx-injected: 1"', // 8
    '"x-nul" = "a\\u0000b"', // 9
    '"x-lf" = "a\\nb"', // 10
    '"x-del" = "a\\u007Fb"', // 11
    '"x-utf8" = "caf\u00e9"', // 12: not ASCII
    '"content-length" = "5"', // 13
    '"transfer-encoding" = "chunked"', // 14
    '"host" = "elsewhere.example"', // 15
    '"connection" = "x-tenant"', // 16
    '"webhook-signature" = "v1,forged"', // 17
    '"" = "empty name"', // 18
    '"X-Tenant" = "twice"', // 19: names are case-insensitive
  ]);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  const at = (line: number, name: string) =>
    problemAt(
      err,
      file,
      line,
      `handlers.event_feed.headers.${/^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name)}`,
    );
  assert.match(at(7, 'bad name').reason, /not a valid header name.*RFC 9110/);
  assert.match(at(8, 'x-crlf').reason, /a CR .*offset 1/);
  assert.match(at(9, 'x-nul').reason, /NUL/);
  assert.match(at(10, 'x-lf').reason, /LF/);
  assert.match(at(11, 'x-del').reason, /control character/);
  assert.match(at(12, 'x-utf8').reason, /ASCII/);
  assert.match(at(13, 'content-length').reason, /set by the sink/);
  assert.match(at(14, 'transfer-encoding').reason, /content-length/);
  assert.match(at(15, 'host').reason, /url/);
  assert.match(at(16, 'connection').reason, /hop-by-hop/);
  assert.match(at(17, 'webhook-signature').reason, /Standard Webhooks/);
  assert.match(at(18, '').reason, /not a valid header name/);
  assert.match(at(19, 'X-Tenant').reason, /given twice/);
  assert.equal(err.problems.length, 13, err.message);
  for (const p of err.problems) assert.ok(!/acme|abc/.test(p.reason), 'a problem never echoes another header');

  // The "name=value,..." form: the problem is on the headers line, naming the header.
  const inline = write(dir, 'inline.toml', [
    '[handlers]',
    'feed = { url = "127.0.0.1:9", headers = "x-ok=1, x y=2, host=a" }',
  ]);
  const e2 = refused(() => loadServiceConfig({ configPath: inline }));
  assert.match(problemAt(e2, inline, 2, 'handlers.feed.headers."x y"').reason, /not a valid header name/);
  assert.match(problemAt(e2, inline, 2, 'handlers.feed.headers.host').reason, /url/);
  assert.equal(e2.problems.length, 2, e2.message);
});

test('every problem of every sink table is reported in one pass, each with its own line', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', [
    '[handlers.feed]', // 1
    'url = "ftp://nowhere"', // 2
    'filter = ["scanJob:*", "bad", "also bad"]', // 3
    'max_attempts = 0', // 4
    'timeout_ms = "soon"', // 5
    'batch_size = 0', // 6
    'send_as_list = "yes"', // 7
    'sned_as_list = true', // 8
    'secret = "not-a-secret"', // 9
    '[handlers.cfgingest]', // 10
    'filter = "scanJob:*"', // 11: and no url
    'max_in_flight = 1000', // 12
    'extra_args = "x=1"', // 13
    '[handlers.cfgingest.headers]', // 14
    '"x y" = "1"', // 15
  ]);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  const want: Array<[number, string, RegExp]> = [
    [2, 'handlers.feed.url', /http\(s\) URL/],
    [3, 'handlers.feed.filter[1]', /noun:verb/],
    [3, 'handlers.feed.filter[2]', /noun:verb/],
    [4, 'handlers.feed.max_attempts', /at least 1/],
    [5, 'handlers.feed.timeout_ms', /milliseconds/],
    [6, 'handlers.feed.batch_size', /from 1 to/],
    [7, 'handlers.feed.send_as_list', /true or false/],
    [8, 'handlers.feed.sned_as_list', /unknown key/],
    [9, 'handlers.feed.secret', /whsec_/],
    [10, 'handlers.cfgingest.url', /required/],
    [11, 'handlers.cfgingest.filter', /array/],
    [12, 'handlers.cfgingest.max_in_flight', /from 1 to 256/],
    [13, 'handlers.cfgingest.extra_args', /table/],
    [15, 'handlers.cfgingest.headers."x y"', /header name/],
  ];
  for (const [line, key, reason] of want)
    assert.match(problemAt(err, file, line, key).reason, reason, `${line} ${key}`);
  assert.equal(err.problems.length, want.length, err.message);
  assert.deepEqual(
    err.problems.map((p) => p.line),
    want.map(([line]) => line),
    'in line order',
  );
});

test('the service refuses to start with a CR/LF in a sink header: exit 2 naming the file, line and key', async (t) => {
  const dir = tmpDir(t);
  const r = await receiver(t);
  const base = write(dir, 'base.toml', [
    '[service]',
    `host = "${HOST}"`,
    'port = 0',
    '[store]',
    'path = "events.db"',
    '[handlers.event_feed]',
    `url = "${r.url}"`,
    'headers = { "x-tenant" = "acme\\r\\nx-injected: 1" }',
    '[log]',
    'format = "json"',
  ]);
  const run = cli(t, ['--config', base]);
  const code = await within(run.exited, 'the service exits', CHILD_MS).catch(async (err: unknown) => {
    // Started anyway: show what an event then meets, for the record.
    const line = jsonLines(run.stdout()).find((l) => l.msg === 'listening for client connections');
    if (line !== undefined) {
      const nc = await connect({ servers: `${HOST}:${line.port as number}`, reconnect: false });
      await publish(nc, 'crlf-1').catch(() => {});
      await until(() => r.got.length > 0, 'a delivery to show', 1000).catch(() => {});
      await nc.close();
    }
    throw new Error(
      `${(err as Error).message}; received ${r.got.length}; log: ${run
        .stdout()
        .split('\n')
        .filter((l) => /dead|fail/.test(l))
        .join('\n')}`,
    );
  });
  assert.equal(code, 2, run.stderr());
  assert.ok(run.stderr().includes(`${base}:8: handlers.event_feed.headers.x-tenant: `), run.stderr());
  assert.match(run.stderr(), /CR/);
  assert.ok(!run.stderr().includes('acme'), 'the value is not echoed');
  assert.equal(r.got.length, 0);
});

test('a reload with a header that cannot be sent is refused; the running sink keeps its headers', async (t) => {
  const dir = tmpDir(t);
  const r = await receiver(t);
  const sink = (tenant: string) => [
    '[handlers.event_feed]',
    `url = "${r.url}"`,
    '[handlers.event_feed.headers]',
    `"x-tenant" = "${tenant}"`,
  ];
  const base = write(dir, 'base.toml', [
    '[service]',
    `host = "${HOST}"`,
    'port = 0',
    '[store]',
    'path = "events.db"',
    ...sink('a'),
    '[log]',
    'format = "json"',
  ]);
  const patch = write(dir, 'patch.toml', ['# nothing yet']);
  const { run, port } = await startCli(t, ['--config', base, '--patch', patch]);
  const nc = await within(connect({ servers: `${HOST}:${port}`, reconnect: false }), 'connect', WAIT_MS);
  t.after(() => nc.close().catch(() => {}));
  await publish(nc, 'before');
  await until(() => r.got.some((g) => g.id === 'before'), 'the first delivery', WAIT_MS);
  assert.equal(r.got.find((g) => g.id === 'before')!.headers['x-tenant'], 'a');

  write(dir, 'patch.toml', [...sink('b\\r\\nx-injected: 1'), '"transfer-encoding" = "chunked"']);
  await signal(run, 'SIGHUP');
  const no = await logLine(run, 'configuration reload refused; the running configuration is unchanged', {
    ms: WAIT_MS,
  });
  const problems = no.problems as string[];
  assert.ok(
    problems.some((p) => p.startsWith(`${patch}:4: handlers.event_feed.headers.x-tenant: `)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.startsWith(`${patch}:5: handlers.event_feed.headers.transfer-encoding: `)),
    problems.join('\n'),
  );
  assert.ok(!jsonLines(run.stdout()).some((l) => l.msg === 'handler sinks reloaded'), 'the sinks were left alone');
  await publish(nc, 'refused');
  await until(() => r.got.some((g) => g.id === 'refused'), 'delivered by the running sink', WAIT_MS);
  assert.equal(r.got.find((g) => g.id === 'refused')!.headers['x-tenant'], 'a', 'the running configuration, unchanged');
  assert.equal(r.got.find((g) => g.id === 'refused')!.headers['x-injected'], undefined);

  write(dir, 'patch.toml', sink('c'));
  await signal(run, 'SIGHUP');
  await logLine(run, 'handler sinks reloaded', { ms: WAIT_MS });
  await publish(nc, 'fixed');
  await until(() => r.got.some((g) => g.id === 'fixed'), 'delivered after the fixed reload', WAIT_MS);
  assert.equal(r.got.find((g) => g.id === 'fixed')!.headers['x-tenant'], 'c');
});

test('property: a header the config accepts is one Node sends; one Node refuses is never accepted (fixed seed)', () => {
  // Characters around every edge the rules draw: tchar, separators, controls, DEL, Latin-1 and beyond.
  const chars = fc.constantFrom(
    ...'aZ09-_.!#$%&\'*+^`|~ :;,/"()<>@[]\\{}=?\t\r\n\0\x01\x1f\x7f\u0080\u00e9\u00ff\u0100\u65e5'.split(''),
  );
  const text = fc.array(chars, { maxLength: 12 }).map((a) => a.join(''));
  const name = fc.oneof(text, fc.constantFrom(...Object.keys(SINK_OWNED_HEADERS), 'Content-Type', 'X-Tenant'));
  fc.assert(
    fc.property(name, text, (n, v) => {
      const problem = headerProblem(n, v);
      let nodeRefuses = false;
      try {
        http.validateHeaderName(n);
        http.validateHeaderValue(n, v);
      } catch {
        nodeRefuses = true;
      }
      if (nodeRefuses) assert.notEqual(problem, undefined, `Node refuses ${JSON.stringify([n, v])}`);
      if (problem === undefined) {
        assert.ok(!nodeRefuses);
        assert.ok(!Object.hasOwn(SINK_OWNED_HEADERS, n.toLowerCase()));
        assert.match(v, /^[\t\x20-\x7e]*$/, 'accepted values are ASCII');
      }
      if (problem !== undefined && v.length > 4) assert.ok(!problem.includes(v), 'the reason never echoes the value');
    }),
    { seed: 11, numRuns: 3000 },
  );
});

test('a program building a sink itself with a header Node would refuse is told at construction, not per delivery', (t) => {
  const store = new SqliteEventStore(':memory:');
  t.after(() => store.close());
  const logger = { error: () => {}, warn: () => {} };
  assert.throws(
    () =>
      new HttpSink(store, {
        name: 'feed',
        url: 'http://127.0.0.1:9/',
        headers: { 'x-tenant': 'a\r\nx-injected: 1' },
        logger,
      }),
    (err: unknown) =>
      err instanceof TypeError && /sink feed: header "x-tenant": the value contains a CR/.test(err.message),
  );
  new HttpSink(store, { name: 'feed', url: 'http://127.0.0.1:9/', headers: { 'x-tenant': 'a' }, logger }).close();
});
