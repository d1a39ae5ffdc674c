// The event-service command as an operator runs it: a child `node dist/src/cli.js` with real files, its exit code,
// stdout and stderr. Configuration rules themselves are config*.test.ts's; this checks what reaches the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as v2 from 'nats';
import { CHILD_MS, jsonLines } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { deferred, until, within } from '@event-broker/test-support/wait';
import { cli, runToExit } from './helpers/cli.js';

/** The CLI's promise: after SIGTERM it exits within lame_duck_duration + 10 s (cli.ts SHUTDOWN_BOUND_MS). */
const SHUTDOWN_MS = 15_000;

test('--help prints the usage on stdout and exits 0', async (t) => {
  const r = await runToExit(t, ['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^usage: event-service \[--config FILE\] \[--patch FILE\]\.\.\. \[--patch-dir DIR\] \[--print-config\]/,
  );
  assert.match(r.stdout, /--patch FILE/);
  assert.equal(r.stderr, '');
});

test('an unknown option exits 2 naming it, with the usage on stderr', async (t) => {
  const r = await runToExit(t, ['--confg', 'x.toml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--confg/);
  assert.match(r.stderr, /usage: event-service/);
  assert.equal(r.stdout, '');
});

test('--print-config prints the base merged with the patch as TOML, the token redacted, each value with its source', async (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', [
    '[service]',
    'port = 4222',
    'token = "s3cret-token"',
    'max_payload = "2MB"',
    'ping_interval = 30',
  ]);
  const patch = write(dir, 'patch.toml', ['[service]', 'port = 5000', '[log]', 'format = "json"']);
  const r = await runToExit(t, ['--config', base, '--patch', patch, '--print-config']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.doesNotMatch(r.stdout, /s3cret-token/);
  const line = (key: string) => {
    const m = new RegExp(`^${key} = (.+?)(?:\\s+# (.*))?$`, 'm').exec(r.stdout);
    assert.ok(m, `no ${key} line in:\n${r.stdout}`);
    return { value: m[1], source: m[2] };
  };
  assert.equal(line('token').value, '"<redacted>"');
  assert.deepEqual(line('port'), { value: '5000', source: `${patch}:2 (patch 1)` }, 'the patch wins');
  assert.deepEqual(
    line('max_payload'),
    { value: '"2MB"', source: `${base}:4` },
    'the base stays where the patch is silent',
  );
  assert.equal(line('ping_interval').value, '"30s"', 'an integer duration in a file is seconds');
  assert.deepEqual(line('listener_limit'), { value: '10000', source: 'default' });
  assert.match(r.stdout, /^\[log\]\nformat = "json"/m);

  // The printout is itself a valid configuration: loading it back gives the same settings, the token aside.
  const printed = path.join(dir, 'printed.toml');
  fs.writeFileSync(printed, r.stdout);
  const again = await runToExit(t, ['--config', printed, '--print-config']);
  assert.equal(again.code, 0, again.stderr);
  const values = (text: string) => text.split('\n').map((l) => l.replace(/\s+#.*$/, ''));
  assert.deepEqual(values(again.stdout), values(r.stdout));
});

test('--patch-dir applies every *.toml in it in file-name order, before the --patch files', async (t) => {
  const dir = tmpDir(t);
  const patches = path.join(dir, 'patches.d');
  fs.mkdirSync(patches);
  const base = write(dir, 'base.toml', ['[service]', 'port = 4222', 'listener_limit = 10']);
  write(patches, '10-later.toml', ['[service]', 'listener_limit = 30', 'max_subscriptions = 7']);
  const early = write(patches, '02-early.toml', ['[service]', 'listener_limit = 20', 'ping_max = 5']);
  write(patches, 'README', ['not = "a patch"', '[[']);
  write(patches, 'notes.toml.bak', ['[[']);
  const later = path.join(patches, '10-later.toml');
  const explicit = write(dir, 'last.toml', ['[service]', 'max_subscriptions = 9']);
  const r = await runToExit(t, ['--config', base, '--patch-dir', patches, '--patch', explicit, '--print-config']);
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => new RegExp(`^${key} = (.+?)\\s+# (.*)$`, 'm').exec(r.stdout)?.slice(1);
  assert.deepEqual(line('listener_limit'), ['30', `${later}:2 (patch 2)`], 'the later file name wins');
  assert.deepEqual(line('ping_max'), ['5', `${early}:3 (patch 1)`]);
  assert.deepEqual(line('max_subscriptions'), ['9', `${explicit}:2 (patch 3)`], '--patch comes after the directory');

  const missing = await runToExit(t, ['--patch-dir', path.join(dir, 'nope')]);
  assert.equal(missing.code, 2);
  assert.ok(missing.stderr.includes(path.join(dir, 'nope')), missing.stderr);
});

test('an unknown key exits 2 and stderr names the file, line and key', async (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', ['[service]', 'host = "127.0.0.1"', 'prot = 4222']);
  const r = await runToExit(t, ['--config', base]);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(`${base}:3: service.prot: unknown key`), r.stderr);
  assert.match(r.stderr, /did you mean "service\.port"/);
  assert.equal(r.stdout, '', 'nothing starts');
});

test('a TOML syntax error exits 2 and stderr names the file, line and column', async (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', ['[service]', 'port = = 1']);
  const r = await runToExit(t, ['--config', base]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`${escape(base)}:2:\\d+: TOML syntax`), r.stderr);
});

test('problems in the base and a patch are all reported, each under its own file', async (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', ['[service]', 'port = "ten"']);
  const patch = write(dir, 'patch.toml', ['[log]', 'level = "loud"', '[servce]']);
  const r = await runToExit(t, ['--config', base, '--patch', patch]);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(`${base}:2: service.port:`), r.stderr);
  assert.ok(r.stderr.includes(`${patch}:2: log.level:`), r.stderr);
  assert.ok(r.stderr.includes(`${patch}:3: servce: unknown key`), r.stderr);
});

test('a missing config file exits 2 naming it', async (t) => {
  const dir = tmpDir(t);
  const missing = path.join(dir, 'nope.toml');
  const r = await runToExit(t, ['--config', missing]);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(missing), r.stderr);
});

test('port 0 logs the real port as JSON, serves a client, and SIGTERM exits 0 closing it after the lame duck', async (t) => {
  const dir = tmpDir(t);
  // A client that never leaves is closed once the grace period is over.
  const base = write(dir, 'base.toml', [
    '[service]',
    'host = "127.0.0.1"',
    'port = 0',
    'lame_duck_duration = "3s"',
    'lame_duck_grace_period = "1s"',
    '[log]',
    'format = "json"',
  ]);
  const run = cli(t, ['--config', base]);
  let listening: Record<string, unknown> | undefined;
  await until(
    () => {
      listening = jsonLines(run.stdout()).find((l) => l.msg === 'listening for client connections');
      return listening !== undefined || run.child.exitCode !== null;
    },
    'the listening line',
    CHILD_MS,
    () => `stdout: ${run.stdout()} stderr: ${run.stderr()}`,
  );
  assert.ok(listening, `the service exited: ${run.stderr()}`);
  const port = listening.port;
  assert.equal(typeof port, 'number');
  assert.ok((port as number) > 0, `a real port, got ${String(port)}`);
  assert.equal(listening.host, '127.0.0.1');
  assert.equal(listening.name, 'event-service');

  const nc = await within(
    v2.connect({ servers: `127.0.0.1:${port}`, reconnect: false, timeout: 3000 }),
    'a client connects',
  );
  t.after(() => (nc.isClosed() ? undefined : nc.close()));
  const sub = nc.subscribe('cli.echo', { max: 1 });
  nc.publish('cli.echo', 'hello');
  const got = await within(
    (async () => {
      for await (const m of sub) return m.string();
      return undefined;
    })(),
    'a message',
  );
  assert.equal(got, 'hello');

  const clientSawClose = deferred<void | Error>();
  void nc.closed().then(clientSawClose.resolve);
  const toldLameDuck = deferred<void>();
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'ldm') toldLameDuck.resolve();
  })();
  const started = Date.now();
  run.child.kill('SIGTERM');
  const code = await within(run.exited, 'exit after SIGTERM', SHUTDOWN_MS);
  assert.equal(code, 0, run.stderr());
  t.diagnostic(`exited ${Date.now() - started} ms after SIGTERM`);
  await within(toldLameDuck.promise, 'the client got the INFO with ldm: true');
  await within(clientSawClose.promise, 'the client sees the connection close');
  assert.ok(nc.isClosed());
  const msgs = jsonLines(run.stdout()).map((l) => l.msg);
  assert.ok(msgs.includes('shutting down'), `log: ${msgs.join(' | ')}`);
  assert.ok(msgs.includes('entering lame duck mode'), `log: ${msgs.join(' | ')}`);
  assert.ok(msgs.includes('server stopped'), `log: ${msgs.join(' | ')}`);
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
