// A 2xx from the HTTP intake means committed: the service CLI killed with SIGKILL after answering and before
// delivering (its sink refusing everything) loses nothing; restarted on the same store, every acknowledged event
// reaches the sink. A child process, a real node:http client with keep-alive and a real node:http sink.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startReceiver } from '@event-broker/test-support/http';
import { logLine } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { cli } from './helpers/cli.js';
import { BATCH, event, post, STRUCTURED } from './helpers/intake-http.js';

test('kill -9 between the 2xx and delivery loses nothing: after a restart every acknowledged event is delivered', async (t) => {
  const dir = tmpDir(t);
  let up = false;
  const sink = await startReceiver(t, { status: () => (up ? 200 : 503) });
  const conf = write(dir, 'service.toml', [
    '[service]',
    'host = "127.0.0.1"',
    'port = 0',
    '[store]',
    'path = "state/events.db"',
    '[handlers]',
    `event_feed = { url = "${sink.url}", max_attempts = 1000 }`,
    '[intake.http]',
    'port = 0',
    'allow_anonymous = true',
    '[log]',
    'format = "json"',
  ]);
  const first = cli(t, ['--config', conf]);
  const port = (await logLine(first, 'HTTP intake listening')).port as number;
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const acked: string[] = [];
  for (let i = 0; i < 50; i++) {
    const a = await post(port, JSON.stringify(event(`one${i}`)), { headers: STRUCTURED, agent });
    assert.equal(a.status, 200, a.text);
    acked.push(a.json.id as string);
  }
  const batch = await post(port, JSON.stringify(Array.from({ length: 100 }, (_, i) => event(`many${i}`))), {
    headers: BATCH,
    agent,
  });
  assert.equal(batch.status, 200, batch.text);
  // Killed as soon as the last 2xx arrives: waiting for anything else (the sink's first try) would give a 2xx sent
  // before its commit time to commit, and the test could not fail.
  first.child.kill('SIGKILL');
  for (const r of batch.json.results as { id: string }[]) acked.push(r.id);
  assert.equal(sink.accepted().length, 0, 'nothing delivered before the kill');
  await within(first.exited, 'the killed service exits');
  agent.destroy();

  up = true;
  const second = cli(t, ['--config', conf]);
  await logLine(second, 'HTTP intake listening');
  await until(
    () => acked.every((id) => sink.accepted().includes(id)),
    'every acknowledged event delivered after the restart',
    20_000,
    () => `${acked.filter((id) => !sink.accepted().includes(id)).length} of ${acked.length} missing`,
  );
});
