// Lame duck and handler deliveries: events acknowledged (their request replies received) while the sink is down,
// then SIGTERM to the CLI child (a lame-duck drain, exit 0), are delivered once the service is restarted on the
// same store with the sink up: each at least once, carrying its event id as webhook-id.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { connect, StringCodec } from 'nats';
import { logLine, signal } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { startCli } from './helpers/cli.js';

/** Generous: a sink that was failing backs off (up to several seconds) before the restarted service retries. */
const WAIT_MS = 45_000;
const HOST = '127.0.0.1';
const EVENTS = 40;
const sc = StringCodec();

/** A port nothing listens on (bound then released), for the sink while it is down. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function receiver(t: TestContext, port: number): Promise<Array<{ id: string; body: { id: string } }>> {
  const got: Array<{ id: string; body: { id: string } }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      got.push({ id: String(req.headers['webhook-id']), body: JSON.parse(body) as { id: string } });
      res.writeHead(200).end();
    });
  });
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve(got));
  });
}

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
  assert.deepEqual(acked, Array.from({ length: EVENTS }, (_, i) => `ld-${i}`));
  await nc.close();
  // The sink really is down: /handlerz shows every event pending and attempts failing before the drain.
  const mon = (await logLine(first.run, 'monitoring listener started', { ms: WAIT_MS })).port as number;
  type Handlerz = { handlers: { sinks: { name: string; backlog: number; failed_attempts: number }[] } };
  let sinkNow: Handlerz['handlers']['sinks'][number] | undefined;
  const deadline = Date.now() + WAIT_MS;
  while (!(sinkNow !== undefined && sinkNow.failed_attempts > 0 && sinkNow.backlog === EVENTS)) {
    assert.ok(Date.now() < deadline, `no failed attempt against the down sink: ${JSON.stringify(sinkNow)}`);
    const res = await fetch(`http://${HOST}:${mon}/handlerz`);
    sinkNow = ((await res.json()) as Handlerz).handlers.sinks.find((x) => x.name === 'event_feed');
    if (!(sinkNow !== undefined && sinkNow.failed_attempts > 0)) await new Promise((r) => setTimeout(r, 100));
  }
  await signal(first.run, 'SIGTERM');
  await logLine(first.run, 'entering lame duck mode', { ms: WAIT_MS });
  assert.equal(await within(first.run.exited, 'the drained service exits', WAIT_MS), 0);

  const got = await receiver(t, sinkPort);
  const second = await startCli(t, ['--config', conf]);
  const missing = () => acked.filter((id) => !got.some((g) => g.id === id));
  await until(() => missing().length === 0, 'every acknowledged event delivered after the restart', WAIT_MS, () => `${missing().length} missing: ${missing().join(' ')}`);
  for (const g of got) assert.equal(g.body.id, g.id, 'the webhook-id is the event id');
  t.diagnostic(`acknowledged ${acked.length}, deliveries ${got.length}, duplicates ${got.length - new Set(got.map((g) => g.id)).size}`);
  await signal(second.run, 'SIGTERM');
  assert.equal(await within(second.run.exited, 'the restarted service exits', WAIT_MS), 0);
});
