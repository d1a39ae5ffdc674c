// Lame duck and handler deliveries: events acknowledged (their request replies received) while the sink is down,
// then SIGTERM to the CLI child (a lame-duck drain, exit 0), are delivered once the service is restarted on the
// same store with the sink up: each at least once, carrying its event id as webhook-id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, StringCodec } from 'nats';
import { logLine, signal } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { eventually, until, within } from '@event-broker/test-support/wait';
import { startCli } from './helpers/cli.js';
import { startReceiver } from '@event-broker/test-support/http';
import { freePort } from '@event-broker/test-support/processes';

/** Generous: a sink that was failing backs off (up to several seconds) before the restarted service retries. */
const WAIT_MS = 45_000;
const HOST = '127.0.0.1';
const EVENTS = 40;
const sc = StringCodec();

test('events acknowledged before SIGTERM while the sink is down are delivered after a restart, same webhook-id', async (t) => {
  const dir = tmpDir(t);
  const sinkPort = await freePort();
  const conf = write(dir, 'service.toml', [
    '[service]',
    `host = "${HOST}"`,
    'port = 0',
    'lame_duck_duration = 1500',
    'lame_duck_grace_period = 500',
    '[monitor]',
    `host = "${HOST}"`,
    'port = 0',
    '[store]',
    'path = "events.db"',
    '[handlers]',
    `event_feed = { url = "http://${HOST}:${sinkPort}/", max_attempts = 1000, timeout_ms = 2000 }`,
    '[log]',
    'format = "json"',
  ]);
  const first = await startCli(t, ['--config', conf]);
  const nc = await within(connect({ servers: `${HOST}:${first.port}`, reconnect: false }), 'connect', WAIT_MS);
  const acked: string[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const id = `ld-${i}`;
    const event = { specversion: '1.0', id, source: '/lame-duck-handlers-test', type: 'scanJobCreated' };
    const r = await nc.request('events.scanJobCreated', sc.encode(JSON.stringify(event)), { timeout: WAIT_MS });
    acked.push((JSON.parse(sc.decode(r.data)) as { id: string }).id);
  }
  assert.deepEqual(
    acked,
    Array.from({ length: EVENTS }, (_, i) => `ld-${i}`),
  );
  await nc.close();
  // The sink really is down: /handlerz shows every event pending and attempts failing before the drain.
  const mon = (await logLine(first.run, 'monitoring listener started', { ms: WAIT_MS })).port as number;
  type Handlerz = { handlers: { sinks: { name: string; backlog: number; failed_attempts: number }[] } };
  await eventually(
    async () =>
      (
        (await (await within(fetch(`http://${HOST}:${mon}/handlerz`), 'GET /handlerz')).json()) as Handlerz
      ).handlers.sinks.find((x) => x.name === 'event_feed'),
    (sinkNow) => sinkNow !== undefined && sinkNow.failed_attempts > 0 && sinkNow.backlog === EVENTS,
    'a failed attempt against the down sink, every event in its backlog',
    WAIT_MS,
  );
  await signal(first.run, 'SIGTERM');
  await logLine(first.run, 'entering lame duck mode', { ms: WAIT_MS });
  assert.equal(await within(first.run.exited, 'the drained service exits', WAIT_MS), 0);

  const { got } = await startReceiver(t, { port: sinkPort });
  const second = await startCli(t, ['--config', conf]);
  const missing = () => acked.filter((id) => !got.some((g) => g.id === id));
  await until(
    () => missing().length === 0,
    'every acknowledged event delivered after the restart',
    WAIT_MS,
    () => `${missing().length} missing: ${missing().join(' ')}`,
  );
  for (const g of got) assert.equal((JSON.parse(g.body) as { id: string }).id, g.id, 'the webhook-id is the event id');
  t.diagnostic(
    `acknowledged ${acked.length}, deliveries ${got.length}, duplicates ${got.length - new Set(got.map((g) => g.id)).size}`,
  );
  await signal(second.run, 'SIGTERM');
  assert.equal(await within(second.run.exited, 'the restarted service exits', WAIT_MS), 0);
});
