// SIGTERM's lame-duck drain, as an operator sees it with two event-service processes and an official client that
// lists both: the draining one stops accepting, says so with an INFO carrying ldm: true (nats-server's lame-duck
// mode), reports 503 on /healthz, and exits 0 once its clients have left. The client moves on `ldm` between two
// requests (nats.js only reports ldm; moving is the application's call, as with nats.go's LameDuckModeHandler).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as v2 from 'nats';
import { jsonLines, logLine, signal } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { deferred, pace, within } from '@event-broker/test-support/wait';
import { startCli } from './helpers/cli.js';

/** Every wait is generous: two children and the client share two cores with the rest of the suite. */
const WAIT_MS = 15_000;
const HOST = '127.0.0.1';
/** Requests before SIGTERM, and after the client is on the other server. */
const BEFORE = 50;
const AFTER = 50;

async function connect(t: TestContext, opts: v2.ConnectionOptions): Promise<v2.NatsConnection> {
  const nc = await within(v2.connect({ timeout: 5000, ...opts }), `connect to ${String(opts.servers)}`, WAIT_MS);
  t.after(() => (nc.isClosed() ? undefined : nc.close()));
  return nc;
}

/** Answers `lame.echo` with `<name>:<request>` until the connection ends. */
function respond(nc: v2.NatsConnection, name: string): void {
  const sub = nc.subscribe('lame.echo');
  void (async () => {
    for await (const m of sub) m.respond(`${name}:${m.string()}`);
  })();
}

test('SIGTERM: a client listing two servers moves to the other on ldm without losing a request; the first exits 0 when its clients are gone', async (t) => {
  const dir = tmpDir(t);
  // Grace and duration far beyond the test: the draining server exits because its clients left, never by a timer.
  const config = (name: string, monitor: boolean) =>
    write(dir, `${name}.toml`, [
      '[service]',
      `host = "${HOST}"`,
      'port = 0',
      `server_name = "${name}"`,
      'lame_duck_duration = "120s"',
      'lame_duck_grace_period = "100s"',
      ...(monitor ? ['[monitor]', `host = "${HOST}"`, 'port = 0'] : []),
      '[log]',
      'format = "json"',
    ]);
  const [a, b] = await Promise.all([
    startCli(t, ['--config', config('a', true)]),
    startCli(t, ['--config', config('b', false)]),
  ]);
  const monitorPort = (await logLine(a.run, 'monitoring listener started')).port as number;
  const healthz = async () => (await fetch(`http://${HOST}:${monitorPort}/healthz`)).status;
  assert.equal(await healthz(), 200);

  // A service instance beside each server (one only ever on A, one on B), and the requester listing both.
  const onA = await connect(t, { servers: `${HOST}:${a.port}`, reconnect: false });
  respond(onA, 'a');
  const onB = await connect(t, { servers: `${HOST}:${b.port}` });
  respond(onB, 'b');
  await Promise.all([onA.flush(), onB.flush()]);
  const client = await connect(t, {
    servers: [`${HOST}:${a.port}`, `${HOST}:${b.port}`],
    noRandomize: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  assert.equal(client.getServer(), `${HOST}:${a.port}`);
  let ldm = false;
  const toldLameDuck = deferred<void>();
  const reconnected = deferred<void>();
  void (async () => {
    for await (const s of client.status()) {
      if (s.type === 'ldm') {
        ldm = true;
        toldLameDuck.resolve();
      }
      if (s.type === 'reconnect') reconnected.resolve();
    }
  })();

  const answers: string[] = [];
  let sent = 0;
  const request = async () => {
    if (ldm) {
      // Between requests, so none is in flight on the old connection; and the next one waits for the new
      // connection (nats.js resolves reconnect() at once, and a publish before the old socket closes is lost).
      ldm = false;
      await client.reconnect();
      await within(reconnected.promise, 'the client reconnects', WAIT_MS);
    }
    const n = sent++;
    const m = await client.request('lame.echo', String(n), { timeout: 10_000 });
    answers.push(m.string());
    assert.match(m.string(), new RegExp(`^[ab]:${n}$`), 'the answer to this request');
  };

  for (let i = 0; i < BEFORE; i++) await request();
  await signal(a.run, 'SIGTERM');
  await logLine(a.run, 'entering lame duck mode', { ms: WAIT_MS });
  await within(
    (async () => {
      while (!answers[answers.length - 1]!.startsWith('b:')) {
        await request();
        await pace(5);
      }
    })(),
    'requests reach the other server',
    WAIT_MS,
  );
  await within(toldLameDuck.promise, 'the client was told (status ldm)');
  for (let i = 0; i < AFTER; i++) await request();

  assert.equal(answers.length, sent, 'every request answered');
  assert.equal(client.getServer(), `${HOST}:${b.port}`);
  const firstOnB = answers.findIndex((s) => s.startsWith('b:'));
  assert.ok(firstOnB >= BEFORE, `answered on a until SIGTERM (first b at ${firstOnB})`);
  assert.ok(
    answers.slice(firstOnB).every((s) => s.startsWith('b:')),
    'then only on b',
  );
  t.diagnostic(`${sent} requests, ${firstOnB} on a`);

  // Still draining while a client stays: unhealthy, and no new client gets in.
  assert.equal(a.run.child.exitCode, null);
  assert.equal(await healthz(), 503);
  await assert.rejects(v2.connect({ servers: `${HOST}:${a.port}`, reconnect: false, timeout: 2000 }));

  // The last client leaves: the server closes and exits 0 without waiting for its grace period.
  await onA.drain();
  assert.equal(await within(a.run.exited, 'a exits once its clients left', WAIT_MS), 0, a.run.stderr());
  const msgs = jsonLines(a.run.stdout()).map((l) => l.msg);
  assert.ok(msgs.includes('server stopped'), msgs.join(' | '));
  assert.ok(!msgs.includes('lame duck grace period over, closing the remaining clients'), msgs.join(' | '));
  assert.equal(b.run.child.exitCode, null, 'b keeps serving');
});
