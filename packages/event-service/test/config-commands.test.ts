// `event-service config patch` and `config show` against the real command: a running service (a child process)
// is patched, observed over the wire with a raw client, restarted, and its stored patches and sources read back.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { jsonLines, logLine, type Run, signal } from '@event-broker/test-support/child';
import { connectAndHandshake, type RawConn } from '@event-broker/test-support/raw';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { runToExit, startCli } from './helpers/cli.js';

/** Generous: every step starts a Node child on a machine the whole suite shares. */
const WAIT_MS = 10_000;
const HOST = '127.0.0.1';

function baseLines(): string[] {
  return [
    '[service]',
    `host = "${HOST}"`,
    'port = 0',
    'listener_limit = 2',
    'token = "b4se-s3cret"',
    '[log]',
    'format = "json"',
    'level = "info"',
  ];
}

async function raw(t: TestContext, port: number): Promise<RawConn> {
  const conn = await connectAndHandshake(
    { host: HOST, port },
    { verbose: false, pedantic: false, auth_token: 'b4se-s3cret' },
    { timeoutMs: WAIT_MS },
  );
  t.after(() => conn.close());
  return conn;
}

async function roundTrip(conn: RawConn, lines: string): Promise<string> {
  conn.send(`${lines}PING\r\n`);
  const m = await conn.expect(/^([\s\S]*?)PONG\r\n/, WAIT_MS);
  return m[1] ?? '';
}

/** Starts the service and waits for its pid file (written once SIGHUP is handled). */
async function start(t: TestContext, args: string[], dataDir: string): Promise<{ run: Run; port: number }> {
  const started = await startCli(t, args);
  const pidFile = path.join(dataDir, 'event-service.pid');
  await until(
    () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() === String(started.run.child.pid),
    'the pid file names the service',
    WAIT_MS,
  );
  return started;
}

async function stop(run: Run): Promise<void> {
  await signal(run, 'SIGINT');
  await until(() => run.child.exitCode !== null || run.child.signalCode !== null, 'the service exits', WAIT_MS);
}

test('config patch raises listener_limit and changes the token on a running service: prints the change, the connection on the old token is closed, the raised limit is live, and the patch survives a restart', async (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', baseLines());
  const dataDir = path.join(dir, 'data');
  const { run, port } = await start(t, ['--config', base], dataDir);
  const conn = await raw(t, port);
  assert.equal(await roundTrip(conn, 'SUB p.a 1\r\nSUB p.b 2\r\n'), '', 'two subscriptions fit listener_limit 2');
  assert.match(await roundTrip(conn, 'SUB p.c 3\r\n'), /^-ERR 'maximum subscriptions exceeded'\r\n$/);

  const p = write(dir, 'raise.toml', ['[service]', 'listener_limit = 5', 'token = "n3w-s3cret"']);
  const r = await runToExit(t, ['config', 'patch', p, '--config', base], WAIT_MS);
  assert.equal(r.code, 0, r.stderr);
  const stored = path.join(dataDir, 'patches', '0001-raise.toml');
  assert.match(r.stdout, new RegExp(`^stored ${stored.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
  assert.match(r.stdout, /^service\.listener_limit: 2 -> 5$/m);
  assert.match(r.stdout, /^service\.token: "<redacted>" -> "<redacted>"$/m);
  assert.doesNotMatch(r.stdout + r.stderr, /s3cret/, 'secrets never printed');
  assert.match(r.stdout, new RegExp(`^service \\(pid ${run.child.pid}\\) told to reload$`, 'm'));
  assert.equal(fs.readFileSync(stored, 'utf8'), fs.readFileSync(p, 'utf8'));

  const reloaded = await logLine(run, 'configuration reloaded', { ms: WAIT_MS });
  assert.deepEqual(reloaded.changed, ['service.listener_limit', 'service.token']);
  // The connection on the old token is closed, as nats-server's reload closes it; one on the new token finds the
  // raised limit live.
  await conn.expect(/-ERR 'Authorization Violation'\r\n/, WAIT_MS);
  const live = await connectAndHandshake(
    { host: HOST, port },
    { verbose: false, pedantic: false, auth_token: 'n3w-s3cret' },
    { timeoutMs: WAIT_MS },
  );
  t.after(() => live.close());
  assert.equal(
    await roundTrip(live, 'SUB p.a 1\r\nSUB p.b 2\r\nSUB p.c 3\r\n'),
    '',
    'three subscriptions fit the raised listener_limit',
  );

  // Restarted with the same command line: the stored patch is applied again.
  await stop(run);
  assert.ok(!fs.existsSync(path.join(dataDir, 'event-service.pid')), 'the pid file goes with the service');
  const again = await start(t, ['--config', base], dataDir);
  const after = await connectAndHandshake(
    { host: HOST, port: again.port },
    { verbose: false, pedantic: false, auth_token: 'n3w-s3cret' },
    { timeoutMs: WAIT_MS },
  );
  t.after(() => after.close());
  assert.equal(
    await roundTrip(after, 'SUB q.a 1\r\nSUB q.b 2\r\nSUB q.c 3\r\nSUB q.d 4\r\nSUB q.e 5\r\n'),
    '',
    'listener_limit 5 after the restart',
  );
  assert.match(await roundTrip(after, 'SUB q.f 6\r\n'), /^-ERR 'maximum subscriptions exceeded'\r\n$/);
});

test("config show prints the configuration in force with each value's source: default, base file, --patch file, stored patch", async (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', baseLines());
  const cliPatch = write(dir, 'cli.toml', ['[service]', 'ping_max = 4']);
  const p = write(dir, 'stored.toml', ['', '[service]', 'listener_limit = 7']);
  // No service running: the patch is validated and stored, and applies at the next start.
  const r = await runToExit(t, ['config', 'patch', p, '--config', base, '--patch', cliPatch], WAIT_MS);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^no running service found: the patch applies at the next start$/m);

  const show = await runToExit(t, ['config', 'show', '--config', base, '--patch', cliPatch], WAIT_MS);
  assert.equal(show.code, 0, show.stderr);
  const line = (key: string) => {
    const m = new RegExp(`^${key} = (.+?)\\s+# (.*)$`, 'm').exec(show.stdout);
    assert.ok(m, `no ${key} line in:\n${show.stdout}`);
    return { value: m[1], source: m[2] };
  };
  const stored = path.join(dir, 'data', 'patches', '0001-stored.toml');
  assert.deepEqual(
    line('listener_limit'),
    { value: '7', source: `${stored}:3 (patch 2)` },
    'the stored patch, after the --patch file',
  );
  assert.deepEqual(line('ping_max'), { value: '4', source: `${cliPatch}:2 (patch 1)` });
  assert.deepEqual(line('host'), { value: `"${HOST}"`, source: `${base}:2` });
  assert.deepEqual(line('token'), { value: '"<redacted>"', source: `${base}:5` });
  assert.deepEqual(line('max_connections'), { value: '65536', source: 'default' });
  assert.doesNotMatch(show.stdout, /s3cret/);
  // --print-config of the service itself sees the stored patch too.
  const printed = await runToExit(t, ['--config', base, '--patch', cliPatch, '--print-config'], WAIT_MS);
  assert.match(printed.stdout, /^listener_limit = 7 /m);
});

test('a bad patch is refused with file:line: key: reason, nothing is stored and the running service is not reloaded', async (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', baseLines());
  const dataDir = path.join(dir, 'data');
  const { run, port } = await start(t, ['--config', base], dataDir);
  const bad = write(dir, 'bad.toml', ['[service]', 'listener_limit = 0', 'prot = 1', 'max_payload = "lots"']);
  const r = await runToExit(t, ['config', 'patch', bad, '--config', base], WAIT_MS);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines[0], 'event-service config: patch refused, nothing stored');
  assert.ok(
    lines.some((l) => l.startsWith(`${bad}:2: service.listener_limit: `)),
    r.stderr,
  );
  assert.ok(
    lines.some((l) => l.startsWith(`${bad}:3: service.prot: unknown key`)),
    r.stderr,
  );
  assert.ok(
    lines.some((l) => l.startsWith(`${bad}:4: service.max_payload: `)),
    r.stderr,
  );
  assert.deepEqual(fs.readdirSync(path.join(dataDir, 'patches')), [], 'nothing stored, no temporary file left');

  const syntax = write(dir, 'syntax.toml', ['[service', 'listener_limit = 3']);
  const s = await runToExit(t, ['config', 'patch', syntax, '--config', base], WAIT_MS);
  assert.equal(s.code, 2);
  assert.match(s.stderr, new RegExp(`^${syntax.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: TOML syntax`, 'm'));
  assert.deepEqual(fs.readdirSync(path.join(dataDir, 'patches')), []);

  // The data directory is where stored patches live: a stored patch cannot move it.
  const move = write(dir, 'move.toml', ['[service]', 'data_dir = "elsewhere"']);
  const m = await runToExit(t, ['config', 'patch', move, '--config', base], WAIT_MS);
  assert.equal(m.code, 2);
  assert.match(
    m.stderr,
    new RegExp(
      `^${move.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: service\\.data_dir: cannot be set by a stored patch`,
      'm',
    ),
  );
  assert.deepEqual(fs.readdirSync(path.join(dataDir, 'patches')), []);

  // The service never heard of any of them: still limit 2, no reload attempted.
  const conn = await raw(t, port);
  assert.match(
    await roundTrip(conn, 'SUB x.a 1\r\nSUB x.b 2\r\nSUB x.c 3\r\n'),
    /^-ERR 'maximum subscriptions exceeded'\r\n$/,
  );
  assert.ok(!jsonLines(run.stdout()).some((l) => typeof l.msg === 'string' && l.msg.startsWith('SIGHUP')), 'no reload');
});
