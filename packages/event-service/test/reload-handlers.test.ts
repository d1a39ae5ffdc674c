// SIGHUP applies [handlers] live (EventHandlers.applySinks): with the CLI as a child and real node:http receivers,
// a reload rotates a sink's secret (deliveries after it verify with the new secret through the `standardwebhooks`
// package, and not with the old one) and adds a sink that then receives new events, without a restart.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { Webhook } from 'standardwebhooks';
import { logLine, signal } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { quietFor, until, within } from '@event-broker/test-support/wait';
import { cli, startCli } from './helpers/cli.js';
import { type Delivery, startReceiver } from '@event-broker/test-support/http';

/** Generous: the child shares the machine with the whole suite. */
const WAIT_MS = 20_000;
const HOST = '127.0.0.1';
const sc = StringCodec();

type Got = Delivery;

/** A webhook receiver answering 204 to everything. */
const receiver = (t: TestContext) => startReceiver(t, { status: () => 204, path: '/hook' });

const secret = () => `whsec_${randomBytes(24).toString('base64')}`;

async function publish(nc: NatsConnection, id: string): Promise<void> {
  const event = { specversion: '1.0', id, source: '/reload-handlers-test', type: 'scanJobCreated' };
  const reply = await nc.request('events.scanJobCreated', sc.encode(JSON.stringify(event)), { timeout: WAIT_MS });
  assert.equal((JSON.parse(sc.decode(reply.data)) as { id: string }).id, id, 'acknowledged');
}

const idOf = (g: Got) => g.id;

test('SIGHUP rotates a sink secret and adds a sink, live: later deliveries verify with the new secret, the new sink receives new events', async (t) => {
  const dir = tmpDir(t);
  const a = await receiver(t);
  const b = await receiver(t);
  const oldSecret = secret();
  const newSecret = secret();
  const base = write(dir, 'base.toml', [
    '[service]',
    `host = "${HOST}"`,
    'port = 0',
    '[store]',
    'path = "events.db"',
    '[handlers]',
    `event_feed = { url = "${a.url}", secret = "${oldSecret}" }`,
    '[log]',
    'format = "json"',
    'level = "info"',
  ]);
  const patch = write(dir, 'patch.toml', ['# nothing yet']);
  const { run, port } = await startCli(t, ['--config', base, '--patch', patch]);
  const nc = await within(connect({ servers: `${HOST}:${port}`, reconnect: false }), 'connect', WAIT_MS);
  t.after(() => nc.close().catch(() => {}));

  await publish(nc, 'before-1');
  await until(() => a.got.some((g) => idOf(g) === 'before-1'), 'the first delivery', WAIT_MS);
  const first = a.got.find((g) => idOf(g) === 'before-1')!;
  new Webhook(oldSecret).verify(first.body, first.headers as Record<string, string>);
  assert.equal(b.got.length, 0);

  // Rotate the secret (only the new one signs) and add cfgingest, taking every event.
  write(dir, 'patch.toml', [
    '[handlers]',
    `event_feed = { url = "${a.url}", secret = "${newSecret}" }`,
    `cfgingest = { url = "${b.url}", filter = ["*:*"], max_attempts = 5, timeout_ms = 5000 }`,
  ]);
  await signal(run, 'SIGHUP');
  const done = await logLine(run, 'configuration reloaded', { ms: WAIT_MS });
  assert.deepEqual(done.restart_required, [], 'nothing in [handlers] waits for a restart');
  const changed = done.changed as string[];
  for (const k of ['handlers.event_feed.secrets', 'handlers.cfgingest.url', 'handlers.cfgingest.filter'])
    assert.ok(changed.includes(k), `${k} in ${changed.join(', ')}`);
  const secretLine = await logLine(run, 'configuration changed', {
    fields: { setting: 'handlers.event_feed.secrets' },
  });
  assert.equal(secretLine.to, '<redacted>');
  assert.ok(
    !run.stdout().includes(newSecret.slice(6)) && !run.stdout().includes(oldSecret.slice(6)),
    'no secret in the log',
  );
  const sinks = await logLine(run, 'handler sinks reloaded', { ms: WAIT_MS });
  assert.deepEqual(sinks.added, ['cfgingest']);
  assert.deepEqual(sinks.replaced, ['event_feed']);

  for (const id of ['after-1', 'after-2', 'after-3']) await publish(nc, id);
  const after = ['after-1', 'after-2', 'after-3'];
  await until(
    () => after.every((id) => a.got.some((g) => idOf(g) === id)),
    'the rotated sink delivers',
    WAIT_MS,
    () => JSON.stringify(a.got.map(idOf)),
  );
  await until(
    () => after.every((id) => b.got.some((g) => idOf(g) === id)),
    'the added sink delivers',
    WAIT_MS,
    () => JSON.stringify(b.got.map(idOf)),
  );
  for (const g of a.got.filter((x) => after.includes(idOf(x)!))) {
    new Webhook(newSecret).verify(g.body, g.headers as Record<string, string>);
    assert.throws(
      () => new Webhook(oldSecret).verify(g.body, g.headers as Record<string, string>),
      'the old secret no longer signs',
    );
  }
  for (const g of b.got) assert.equal(g.headers['webhook-signature'], undefined, 'the added sink has no secret');
  // Events before the reload were routed to the sinks configured then: the added sink did not get them.
  assert.ok(!b.got.some((g) => idOf(g) === 'before-1'));

  // Removed again: the sink stops; later events are not routed to it.
  write(dir, 'patch.toml', ['[handlers]', `event_feed = { url = "${a.url}", secret = "${newSecret}" }`]);
  await signal(run, 'SIGHUP');
  await logLine(run, 'configuration reloaded', { n: 2, ms: WAIT_MS });
  const removed = await logLine(run, 'handler sinks reloaded', { n: 2, ms: WAIT_MS });
  assert.deepEqual(removed.removed, ['cfgingest']);
  await publish(nc, 'after-4');
  await until(() => a.got.some((g) => idOf(g) === 'after-4'), 'the remaining sink delivers', WAIT_MS);
  // The point: nothing arrives at the removed sink for a while (it cannot say it will never be called).
  await quietFor(200);
  assert.ok(!b.got.some((g) => idOf(g) === 'after-4'), 'the removed sink gets nothing new');
  assert.ok(run.child.exitCode === null, 'the same process all along');
});

test('SIGHUP adding [handlers] to a service started without them starts the intake and the sink', async (t) => {
  const dir = tmpDir(t);
  const a = await receiver(t);
  const base = write(dir, 'base.toml', [
    '[service]',
    `host = "${HOST}"`,
    'port = 0',
    '[log]',
    'format = "json"',
    'level = "info"',
  ]);
  const patch = write(dir, 'patch.toml', ['# nothing yet']);
  // cwd: the default store (data/events.db) lands in the test's directory.
  const run = cli(t, ['--config', base, '--patch', patch], dir);
  const port = (await logLine(run, 'listening for client connections', { ms: WAIT_MS })).port as number;
  const nc = await within(connect({ servers: `${HOST}:${port}`, reconnect: false }), 'connect', WAIT_MS);
  t.after(() => nc.close().catch(() => {}));

  write(dir, 'patch.toml', ['[handlers]', `event_feed = "${a.url.replace(/^http:\/\/|\/hook$/g, '')}"`]);
  await signal(run, 'SIGHUP');
  const done = await logLine(run, 'configuration reloaded', { ms: WAIT_MS });
  assert.deepEqual(done.restart_required, []);
  await publish(nc, 'late-1');
  await until(() => a.got.some((g) => idOf(g) === 'late-1'), 'the sink added by the reload delivers', WAIT_MS);
});
