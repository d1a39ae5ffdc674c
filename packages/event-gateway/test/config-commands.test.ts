// `event-gateway config patch` and `config show` against the real command, as the event service's: a running
// gateway (a CLI child) is patched and observed with official clients over TLS (max_connections raised live, a
// token revoked live), restarted with its stored patches, and the sources of every value read back; a bad patch is
// refused with file:line: key: reason and nothing stored.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { NatsConnection } from 'nats';
import { jsonLines, logLine, type Run } from '@event-broker/test-support/child';
import { freePort, HOST } from '@event-broker/test-support/processes';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { devPki, external, gatewayToml, runToExit, startCli, tokenId, type Pki } from './helpers/ops.js';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

async function start(
  t: TestContext,
  args: string[],
  dataDir: string,
): Promise<{ run: Run; port: number; monitorPort: number }> {
  const started = await startCli(t, args);
  const pidFile = path.join(dataDir, 'event-gateway.pid');
  await until(
    () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() === String(started.run.child.pid),
    'the pid file names the gateway',
  );
  return started;
}

async function stop(run: Run): Promise<void> {
  run.child.kill('SIGINT');
  assert.equal(await within(run.exited, 'the gateway exits'), 0, run.stderr());
}

/** Connects a client (name `name`), or the refusal's message. */
async function tryConnect(
  t: TestContext,
  pki: Pki,
  port: number,
  token: string,
  name: string,
  timeout = 5000,
): Promise<NatsConnection | string> {
  try {
    return await external(t, pki, `${HOST}:${port}`, token, { nats: { name, timeout } });
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * A client turned away at max_connections. The gateway, like nats-server, greets and refuses before the TLS
 * handshake (INFO, then `-ERR 'maximum connections exceeded'` in plaintext), which a TLS client reads as a failed
 * connect rather than that text: the refusal is checked in the gateway's log.
 */
async function refusedAtMax(t: TestContext, pki: Pki, run: Run, port: number, n: number): Promise<void> {
  // nats-server's client sees the same: TIMEOUT (observed with 2.9.10 and nats.js 2.29). 2 s is plenty on loopback.
  const got = await tryConnect(t, pki, port, await pki.token('one-too-many'), 'one too many', 2000);
  assert.equal(typeof got, 'string', 'refused');
  await logLine(run, 'maximum connections exceeded, refusing', { n });
}

test('config patch raises max_connections on a running gateway and revokes a live token; the patches survive a restart', async (t) => {
  const pki = await devPki(t);
  const dir = tmpDir(t);
  const dataDir = path.join(dir, 'state');
  // No upstream listening: the link stays down, which clients of the gateway do not notice.
  const base = write(
    dir,
    'gateway.toml',
    gatewayToml(pki, await freePort(), ['max_connections = 1', `data_dir = "${dataDir}"`]),
  );
  const { run, port } = await start(t, ['--config', base], dataDir);

  const aliceToken = await pki.token('alice');
  const alice = await external(t, pki, `${HOST}:${port}`, aliceToken, { nats: { name: 'alice' } });
  const closedAlice = alice.closed();
  await refusedAtMax(t, pki, run, port, 1);

  const raise = write(dir, 'raise.toml', ['[gateway]', 'max_connections = 3', 'ping_max = 5']);
  const r = await runToExit(t, ['config', 'patch', raise, '--config', base]);
  assert.equal(r.code, 0, r.stderr);
  const stored = path.join(dataDir, 'patches', '0001-raise.toml');
  assert.match(r.stdout, new RegExp(`^stored ${escape(stored)}$`, 'm'));
  assert.match(r.stdout, /^gateway\.max_connections: 1 -> 3$/m);
  assert.match(r.stdout, /^gateway\.ping_max: 2 -> 5$/m);
  assert.match(r.stdout, new RegExp(`^gateway \\(pid ${run.child.pid}\\) told to reload$`, 'm'));
  const reloaded = await logLine(run, 'configuration reloaded');
  assert.deepEqual(reloaded.changed, ['gateway.max_connections', 'gateway.ping_max']);
  assert.ok(
    jsonLines(run.stdout()).some(
      (l) => l.msg === 'configuration changed' && l.setting === 'gateway.max_connections' && l.to === 3,
    ),
  );

  const bob2 = await tryConnect(t, pki, port, await pki.token('bob'), 'bob');
  assert.notEqual(typeof bob2, 'string', `bob gets in now: ${String(bob2)}`);
  assert.equal(alice.isClosed(), false, 'alice was never disturbed');

  // Revoking alice's token by a stored patch closes her live connection at the reload, and only hers.
  const revoke = write(dir, 'revoke-alice.toml', ['[auth]', `revoked = ["${tokenId(aliceToken)}"]`]);
  const rv = await runToExit(t, ['config', 'patch', revoke, '--config', base]);
  assert.equal(rv.code, 0, rv.stderr);
  assert.match(rv.stdout, new RegExp(`^auth\\.revoked: \\[\\] -> \\["${tokenId(aliceToken)}"\\]$`, 'm'));
  await within(closedAlice, 'alice is disconnected by the reload');
  assert.equal((await logLine(run, 'configuration reloaded', { n: 2 })).revoked_connections, 1);
  assert.equal((bob2 as NatsConnection).isClosed(), false);
  const again = await tryConnect(t, pki, port, aliceToken, 'alice again');
  assert.match(
    String(again),
    /Authorization Violation|AUTHORIZATION_VIOLATION/,
    'the revoked token is refused from now on',
  );

  // Restarted with the same command line: both stored patches apply again.
  await stop(run);
  assert.ok(!fs.existsSync(path.join(dataDir, 'event-gateway.pid')), 'the pid file goes with the gateway');
  const restarted = await start(t, ['--config', base], dataDir);
  const carol = await tryConnect(t, pki, restarted.port, await pki.token('carol'), 'carol');
  const dave = await tryConnect(t, pki, restarted.port, await pki.token('dave'), 'dave');
  assert.notEqual(typeof carol, 'string', String(carol));
  assert.notEqual(typeof dave, 'string', `max_connections 3 after the restart: ${String(dave)}`);
  assert.match(
    String(await tryConnect(t, pki, restarted.port, aliceToken, 'alice')),
    /Authorization Violation|AUTHORIZATION_VIOLATION/,
  );
});

test("config show prints the configuration in force with each value's source: default, base, --patch-dir, --patch, stored patch", async (t) => {
  const pki = await devPki(t);
  const dir = tmpDir(t);
  const base = write(dir, 'gateway.toml', gatewayToml(pki, 7999));
  const patchDir = path.join(dir, 'patches.d');
  fs.mkdirSync(patchDir);
  const fromDir = write(patchDir, '10-limits.toml', ['[gateway]', 'max_subscriptions = 50', 'max_payload = "512KiB"']);
  write(patchDir, '20-more.toml', ['[gateway]', 'max_subscriptions = 60']);
  fs.writeFileSync(path.join(patchDir, 'ignored.txt'), 'not a patch\n');
  const cliPatch = write(dir, 'cli.toml', ['[gateway]', 'ping_max = 4']);
  const p = write(dir, 'stored.toml', ['', '[gateway]', 'lame_duck_grace_period = "3s"']);
  const common = ['--config', base, '--patch-dir', patchDir, '--patch', cliPatch];
  // No gateway running: validated and stored, applies at the next start.
  const r = await runToExit(t, ['config', 'patch', p, ...common]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^gateway\.lame_duck_grace_period: 10000 -> 3000$/m);
  assert.match(r.stdout, /^no running gateway found: the patch applies at the next start$/m);

  const show = await runToExit(t, ['config', 'show', ...common]);
  assert.equal(show.code, 0, show.stderr);
  const line = (key: string) => {
    const m = new RegExp(`^${key} = (.+?)\\s+# (.*)$`, 'm').exec(show.stdout);
    assert.ok(m, `no ${key} line in:\n${show.stdout}`);
    return { value: m[1], source: m[2] };
  };
  const stored = path.join(dir, 'data', 'patches', '0001-stored.toml');
  assert.deepEqual(
    line('lame_duck_grace_period'),
    { value: '"3s"', source: `${stored}:3 (patch 4)` },
    'the stored patch, after every command-line patch',
  );
  assert.deepEqual(
    line('max_subscriptions'),
    { value: '60', source: `${path.join(patchDir, '20-more.toml')}:2 (patch 2)` },
    '--patch-dir in file-name order',
  );
  assert.deepEqual(line('max_payload'), { value: '"512KB"', source: `${fromDir}:3 (patch 1)` });
  assert.deepEqual(line('ping_max'), { value: '4', source: `${cliPatch}:2 (patch 3)` }, '--patch after --patch-dir');
  assert.deepEqual(line('host'), { value: `"${HOST}"`, source: `${base}:2` });
  assert.deepEqual(line('lame_duck_duration'), { value: '"25s"', source: 'default' });
  assert.deepEqual(line('max_connections'), { value: '65536', source: 'default' });
  // The gateway itself sees the same: --print-config with the same command line.
  const printed = await runToExit(t, [...common, '--print-config']);
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(printed.stdout, show.stdout);
});

test('a bad patch is refused with file:line: key: reason, nothing is stored and the running gateway is not reloaded', async (t) => {
  const pki = await devPki(t);
  const dir = tmpDir(t);
  const base = write(dir, 'gateway.toml', gatewayToml(pki, await freePort(), ['max_connections = 1']));
  const dataDir = path.join(dir, 'data');
  const { run, port } = await start(t, ['--config', base], dataDir);
  const patches = path.join(dataDir, 'patches');

  const bad = write(dir, 'bad.toml', [
    '[gateway]',
    'max_connections = 0',
    'prot = 1',
    'lame_duck_grace_period = "1h"',
    '[auth]',
    'algorithms = ["none"]',
  ]);
  const r = await runToExit(t, ['config', 'patch', bad, '--config', base]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines[0], 'event-gateway config: patch refused, nothing stored');
  assert.ok(
    lines.some((l) => l.startsWith(`${bad}:2: gateway.max_connections: `)),
    r.stderr,
  );
  assert.ok(
    lines.some((l) => l.startsWith(`${bad}:3: gateway.prot: unknown key`)),
    r.stderr,
  );
  assert.ok(
    lines.some((l) => l.startsWith(`${bad}:6: auth.algorithms[0]: "none" is never allowed`)),
    r.stderr,
  );
  assert.deepEqual(fs.readdirSync(patches), [], 'nothing stored, no temporary file left');

  const range = write(dir, 'range.toml', ['[gateway]', 'lame_duck_grace_period = "1h"']);
  const g = await runToExit(t, ['config', 'patch', range, '--config', base]);
  assert.equal(g.code, 2);
  assert.match(
    g.stderr,
    new RegExp(`^${escape(range)}:2: gateway\\.lame_duck_grace_period: must be shorter than lame_duck_duration`, 'm'),
  );

  const syntax = write(dir, 'syntax.toml', ['[gateway', 'max_connections = 3']);
  const s = await runToExit(t, ['config', 'patch', syntax, '--config', base]);
  assert.equal(s.code, 2);
  assert.match(s.stderr, new RegExp(`^${escape(syntax)}:\\d+:\\d+: TOML syntax`, 'm'));

  const move = write(dir, 'move.toml', ['[gateway]', 'data_dir = "elsewhere"']);
  const m = await runToExit(t, ['config', 'patch', move, '--config', base]);
  assert.equal(m.code, 2);
  assert.match(m.stderr, new RegExp(`^${escape(move)}:2: gateway\\.data_dir: cannot be set by a stored patch`, 'm'));
  assert.deepEqual(fs.readdirSync(patches), []);

  // The gateway never heard of any of them: still max_connections 1, no reload attempted.
  await external(t, pki, `${HOST}:${port}`, await pki.token('first'));
  await refusedAtMax(t, pki, run, port, 1);
  assert.ok(!jsonLines(run.stdout()).some((l) => typeof l.msg === 'string' && l.msg.startsWith('SIGHUP')), 'no reload');
});
