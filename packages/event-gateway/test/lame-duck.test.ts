// SIGTERM's lame duck on the gateway, as an operator sees it with two gateway processes in front of one event
// service: the draining gateway stops accepting, tells its clients with an INFO carrying ldm: true, says 503 on
// /healthz, leaves them the grace period, closes the rest, and only then closes its link to the service, so what
// they published still arrives; it exits 0. An official client listing both gateways moves to the other on `ldm`
// between two requests and loses none (nats.js only reports ldm; moving is the application's call). A second
// SIGTERM exits at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from 'nats';
import { jsonLines, logLine } from '@event-broker/test-support/child';
import { HOST } from '@event-broker/test-support/processes';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { pace, until, within } from '@event-broker/test-support/wait';
import { devPki, external, gatewayToml, internal, startCli, startService } from './helpers/ops.js';
import { untilFlows } from '@event-broker/test-support/flow';

/** Requests before SIGTERM, and after the client is on the other gateway. */
const BEFORE = 30;
const AFTER = 30;

test('SIGTERM: a client listing two gateways moves to the other on ldm without losing a request; what a lingering client published arrives before the link closes; exit 0', async (t) => {
  const pki = await devPki(t);
  const dir = tmpDir(t);
  const service = await startService(t, pki);
  const leaf = service.leafnodePort!;
  // A: a grace period the moving client needs far less of, then the lingering client is closed.
  const a = await startCli(t, [
    '--config',
    write(
      dir,
      'a.toml',
      gatewayToml(pki, leaf, ['server_name = "gw-a"', 'lame_duck_duration = "8s"', 'lame_duck_grace_period = "3s"']),
    ),
  ]);
  const b = await startCli(t, ['--config', write(dir, 'b.toml', gatewayToml(pki, leaf, ['server_name = "gw-b"']))]);
  await Promise.all([logLine(a.run, 'uplink up'), logLine(b.run, 'uplink up')]);
  const healthz = async () => (await fetch(`http://${HOST}:${a.monitorPort}/healthz`)).status;
  await until(async () => (await healthz()) === 200, 'gateway A healthy (the round trip through the service)');

  // Inside the service: a responder, and a subscriber counting what the lingering client publishes.
  const inside = await internal(t, pki, service);
  inside.subscribe('lame.echo', { callback: (_e, m) => m.respond(m.data) });
  const received = new Set<number>();
  inside.subscribe('lame.pub', { callback: (_e, m) => received.add(Number(m.string())) });
  await inside.flush();

  // Everything, and replies through its own inbox prefix (the gateway delivers no other).
  const token = await pki.token('lame-duck-test', {
    pub: { allow: ['>'] },
    sub: { allow: ['>', '_INBOX.lame-duck-test.>'] },
  });
  const client = await external(t, pki, [`${HOST}:${a.port}`, `${HOST}:${b.port}`], token, {
    nats: {
      noRandomize: true,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      inboxPrefix: '_INBOX.lame-duck-test',
    },
  });
  assert.equal(client.getServer(), `${HOST}:${a.port}`);
  // Stays on A until A closes it (no reconnect), publishing in batches confirmed by a flush.
  const lingering: NatsConnection = await external(t, pki, `${HOST}:${a.port}`, token, { nats: { name: 'lingering' } });
  await untilFlows(
    () => lingering.publish('lame.pub', '-1'),
    () => received.has(-1),
    "the service's interest in lame.pub has reached gateway A",
  );

  let ldm = false;
  let toldLameDuck = false;
  let reconnected: (() => void) | undefined;
  void (async () => {
    for await (const s of client.status()) {
      if (s.type === 'ldm') ldm = toldLameDuck = true;
      if (s.type === 'reconnect') reconnected?.();
    }
  })();
  const answers: string[] = [];
  let sent = 0;
  const request = async () => {
    if (ldm) {
      // Between requests, so none is in flight on the old connection; the next waits for the new one.
      ldm = false;
      const back = new Promise<void>((r) => (reconnected = r));
      await client.reconnect();
      await within(back, 'the client reconnects');
    }
    const n = String(sent++);
    const m = await client.request('lame.echo', n, { timeout: 10_000 });
    assert.equal(m.string(), n, 'the answer to this request');
    answers.push(client.getServer());
  };
  for (let i = 0; i < BEFORE; i++) await request();

  // The lingering client publishes until A closes it; every batch whose flush came back was accepted by A.
  let confirmed = 0;
  const gone = lingering.closed().then(() => 'closed' as const);
  const publishing = (async () => {
    for (let batch = 0; !lingering.isClosed(); batch++) {
      try {
        for (let i = 0; i < 10; i++) lingering.publish('lame.pub', String(batch * 10 + i));
        // A flush pending when the server closes the connection is never settled by nats.js: race the close.
        if ((await Promise.race([lingering.flush().then(() => 'flushed' as const), gone])) === 'closed') return;
      } catch {
        return;
      }
      confirmed = (batch + 1) * 10;
      await pace(10);
    }
  })();

  const sigterm = Date.now();
  a.run.child.kill('SIGTERM');
  await logLine(a.run, 'entering lame duck mode');
  await within(
    (async () => {
      while (answers[answers.length - 1] !== `${HOST}:${b.port}`) {
        await request();
        await pace(5);
      }
    })(),
    'requests go through the other gateway',
  );
  assert.ok(toldLameDuck, 'the client was told (status ldm)');
  for (let i = 0; i < AFTER; i++) await request();
  assert.equal(answers.length, sent, 'every request answered');
  const firstOnB = answers.indexOf(`${HOST}:${b.port}`);
  assert.ok(firstOnB >= BEFORE, `through A until SIGTERM (first through B at ${firstOnB})`);
  assert.ok(
    answers.slice(firstOnB).every((s) => s === `${HOST}:${b.port}`),
    'then only through B',
  );

  // Draining while the lingering client stays: unhealthy, and no new client gets in.
  assert.equal(a.run.child.exitCode, null);
  assert.equal(await healthz(), 503);
  const late = await external(t, pki, `${HOST}:${a.port}`, token, { nats: { timeout: 2000 } }).then(
    () => 'admitted',
    () => 'refused',
  );
  assert.equal(late, 'refused', 'a new client is turned away while draining');

  // After the grace period A closes the lingering client, then its link (what it accepted goes up first), exits 0.
  assert.equal(await within(a.run.exited, 'gateway A exits', 20_000), 0, a.run.stderr());
  const tookMs = Date.now() - sigterm;
  await within(publishing, 'the lingering client sees its connection closed');
  assert.ok(confirmed > 0, 'the lingering client published during the grace period');
  await until(
    () => [...Array(confirmed).keys()].every((n) => received.has(n)),
    `all ${confirmed} confirmed publishes reach the service`,
    10_000,
    () => `received ${received.size}`,
  );
  const msgs = jsonLines(a.run.stdout()).map((l) => l.msg);
  const order = [
    'entering lame duck mode',
    'lame duck grace period over, closing the remaining clients',
    'uplink closed',
    'gateway stopped',
  ];
  assert.deepEqual(
    order.map((m) => msgs.indexOf(m) >= 0),
    [true, true, true, true],
    msgs.join(' | '),
  );
  assert.deepEqual(
    [...order].sort((x, y) => msgs.indexOf(x) - msgs.indexOf(y)),
    order,
    'the link closes after the clients',
  );
  assert.equal(b.run.child.exitCode, null, 'B keeps serving');
  t.diagnostic(
    `${sent} requests (${firstOnB} through A); ${confirmed} publishes confirmed by the lingering client, all received; SIGTERM to exit ${tookMs} ms (grace 3 s, duration 8 s)`,
  );
});

test('a second SIGTERM during the lame duck exits at once with 0', async (t) => {
  const pki = await devPki(t);
  const dir = tmpDir(t);
  const service = await startService(t, pki);
  const gw = await startCli(t, [
    '--config',
    write(
      dir,
      'gw.toml',
      gatewayToml(pki, service.leafnodePort!, ['lame_duck_duration = "60s"', 'lame_duck_grace_period = "50s"']),
    ),
  ]);
  await external(t, pki, `${HOST}:${gw.port}`, await pki.token('stays'));
  gw.run.child.kill('SIGTERM');
  await logLine(gw.run, 'entering lame duck mode');
  const second = Date.now();
  gw.run.child.kill('SIGTERM');
  assert.equal(await within(gw.run.exited, 'the gateway exits on the second SIGTERM', 5000), 0, gw.run.stderr());
  assert.ok(
    jsonLines(gw.run.stdout()).some((l) => l.msg === 'second signal, exiting now'),
    gw.run.stdout(),
  );
  t.diagnostic(`second SIGTERM to exit: ${Date.now() - second} ms`);
});
