// Dead letters, listed and replayed: over HTTP on the monitoring listener of a real service delivering to a real
// node:http receiver, and with the deadletters-cli child process against the store file (alone, and beside a
// running service that then delivers what was replayed). Ours only.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEventService } from '../src/embedded.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { eventually, until, within } from '@event-broker/test-support/wait';
import { tmpDir } from '@event-broker/test-support/tmp';
import { startReceiver } from '@event-broker/test-support/http';

const CLI = fileURLToPath(new URL('../src/deadletters-cli.js', import.meta.url));

const ev = (type: string, id: string) => JSON.stringify({ specversion: '1.0', id, source: '/t', type });

async function deadService(t: TestContext, file: string, url: string) {
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    monitor: { host: '127.0.0.1', port: 0 },
    store: { path: file },
    // One attempt: a failure is a dead letter at once, no backoff to wait out.
    handlers: { event_feed: { url, max_attempts: 1 } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  return { svc, base: `http://127.0.0.1:${svc.monitorPort}` };
}

interface DeadList {
  deadletters: { sink: string; id: string; attempts: number; last_error: string; event: { id: string } }[];
  more: boolean;
}

test('dead letters are listed and replayed over HTTP; the sink delivers them once it answers again', async (t) => {
  let status = 500;
  const sink = await startReceiver(t, { status: () => status });
  const { svc, base } = await deadService(t, path.join(tmpDir(t), 'e.db'), sink.url);
  for (const id of ['d0', 'd1', 'd2']) await svc.request('events.nodeTerminated', ev('nodeTerminated', id));
  const list = async (q = '') =>
    (await (await within(fetch(`${base}/deadletters${q}`), 'GET /deadletters')).json()) as DeadList;
  const dead = await eventually(
    () => list('?sink=event_feed'),
    (d) => d.deadletters.length >= 3,
    'three dead letters',
  );
  assert.deepEqual(
    dead.deadletters.map((d) => [d.sink, d.id, d.attempts, d.last_error]),
    [
      ['event_feed', 'd0', 1, 'HTTP 500 after 1 attempts'],
      ['event_feed', 'd1', 1, 'HTTP 500 after 1 attempts'],
      ['event_feed', 'd2', 1, 'HTTP 500 after 1 attempts'],
    ],
  );
  assert.equal(dead.deadletters[0]!.event.id, 'd0', 'the event itself is shown');
  assert.equal((await list('?sink=cfgingest')).deadletters.length, 0);

  const replay = (sinkName: string, init: RequestInit = {}) =>
    within(fetch(`${base}/deadletters/${sinkName}/replay`, { method: 'POST', ...init }), 'POST replay');
  const json = { 'content-type': 'application/json' };
  // Without application/json (what a cross-origin form could send) nothing is replayed.
  assert.equal((await replay('event_feed')).status, 415);
  assert.equal((await replay('nosuch', { headers: json })).status, 404);
  assert.equal((await within(fetch(`${base}/deadletters/event_feed/replay`), 'GET replay')).status, 405);
  status = 200;
  const one = await replay('event_feed', { headers: json, body: JSON.stringify({ ids: ['d1'] }) });
  assert.deepEqual(await one.json(), { sink: 'event_feed', replayed: 1 });
  await until(() => sink.accepted().length === 1, 'd1 delivered after its replay', 10_000);
  assert.deepEqual(
    (await list()).deadletters.map((d) => d.id),
    ['d0', 'd2'],
  );
  assert.deepEqual(await (await replay('event_feed', { headers: json })).json(), { sink: 'event_feed', replayed: 2 });
  await until(() => sink.accepted().length === 3, 'the rest delivered', 10_000);
  assert.deepEqual(sink.accepted(), ['d1', 'd0', 'd2']);
  assert.deepEqual((await list()).deadletters, []);
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return within(
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
      });
    }),
    `deadletters-cli ${args.join(' ')}`,
    20_000,
  );
}

test('deadletters-cli lists and replays a store file, per sink or by event id; bad arguments exit 2', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'e.db');
  const store = new SqliteEventStore(file);
  store.append(
    ['a', 'b', 'c'].map((id) => ({
      id,
      type: 'nodeTerminated',
      body: ev('nodeTerminated', id),
      sinks: ['feed', 'cfgingest'],
    })),
  );
  store.dead('feed', store.get('a')!.seq, 'HTTP 500 after 3 attempts');
  store.dead('feed', store.get('b')!.seq, 'HTTP 410 Gone: sink stopped');
  store.dead('cfgingest', store.get('a')!.seq, 'timed out after 10000 ms after 10 attempts');
  store.close();

  const listed = await cli(['--store', file, 'list']);
  assert.equal(listed.code, 0, listed.stderr);
  const rows = listed.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { sink: string; id: string; last_error: string });
  assert.deepEqual(
    rows.map((r) => `${r.sink}:${r.id}`),
    ['cfgingest:a', 'feed:a', 'feed:b'],
  );
  assert.equal(rows[2]!.last_error, 'HTTP 410 Gone: sink stopped');
  assert.equal((await cli(['--store', file, 'list', '--sink', 'feed'])).stdout.trim().split('\n').length, 2);

  const byId = await cli(['--store', file, 'replay', '--sink', 'feed', '--id', 'b']);
  assert.deepEqual([byId.code, byId.stdout], [0, 'feed: replayed 1\n']);
  const rest = await cli(['--store', file, 'replay']);
  assert.deepEqual([rest.code, rest.stdout], [0, 'cfgingest: replayed 1\nfeed: replayed 1\n']);
  assert.equal((await cli(['--store', file, 'list'])).stdout, '');
  const check = new SqliteEventStore(file);
  t.after(() => check.close());
  assert.deepEqual(
    check.due('feed', Date.now(), 10).map((d) => d.id),
    ['a', 'b', 'c'],
    'pending again for the sink',
  );
  assert.equal(check.held, 3);

  assert.equal((await cli(['--store', file])).code, 2);
  assert.equal((await cli(['list'])).code, 2);
  assert.equal((await cli(['--store', file, 'replay', '--id', 'a'])).code, 2);
  const missing = await cli(['--store', path.join(dir, 'nope.db'), 'list']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no store at/);
  assert.ok(!fs.existsSync(path.join(dir, 'nope.db')), 'no store is created');
});

test('a replay by deadletters-cli beside a running service is delivered by it', async (t) => {
  let status = 500;
  const sink = await startReceiver(t, { status: () => status });
  const file = path.join(tmpDir(t), 'e.db');
  const { svc, base } = await deadService(t, file, sink.url);
  await svc.request('events.nodeTerminated', ev('nodeTerminated', 'x1'));
  await eventually(
    async () => (await (await within(fetch(`${base}/deadletters`), 'GET /deadletters')).json()) as DeadList,
    (d) => d.deadletters.length >= 1,
    'x1 dead-lettered',
  );
  status = 200;
  const r = await cli(['--store', file, 'replay', '--sink', 'event_feed']);
  assert.deepEqual([r.code, r.stdout], [0, 'event_feed: replayed 1\n']);
  // The service re-checks its sinks every few seconds (HOUSEKEEPING_MS); bounded well above that.
  await until(() => sink.accepted().length === 1, 'the running service delivered the replayed event', 30_000);
  assert.deepEqual(sink.accepted(), ['x1']);
});
