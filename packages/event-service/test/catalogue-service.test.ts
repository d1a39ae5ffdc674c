// A catalogue file's types in the running service (the CLI as a child, the official `nats` client, a real node:http
// sink): accepted on events.<type>, their data checked against the file's schema (a refusal names the field), routed
// to the sink their `handlers` name though its default filter does not match them; then the file edited and SIGHUP:
// a type reloaded away is refused with the known types listed, and a broken file leaves the catalogue as it was.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { KNOWN_EVENT_TYPES } from '@event-broker/shared';
import { logLine, signal, type Run } from '@event-broker/test-support/child';
import { startReceiver } from '@event-broker/test-support/http';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { runToExit, startCli } from './helpers/cli.js';

/** Generous: the child shares two cores with other work. */
const WAIT_MS = 20_000;
const HOST = '127.0.0.1';
const sc = StringCodec();

type Reply = { id?: string; error?: { code: string; field?: string; reason: string } };

async function publish(nc: NatsConnection, type: string, id: string, data?: unknown): Promise<Reply> {
  const event = {
    specversion: '1.0',
    id,
    source: '/catalogue-service-test',
    type,
    ...(data !== undefined && { data }),
  };
  const reply = await nc.request(`events.${type}`, sc.encode(JSON.stringify(event)), { timeout: WAIT_MS });
  return JSON.parse(sc.decode(reply.data)) as Reply;
}

const TYPES_V1 = [
  '[types.backupCompleted]',
  'description = "a backup finished"',
  'handlers = ["feed"]',
  '[types.backupCompleted.data]',
  'type = "object"',
  'required = ["size"]',
  '[types.backupCompleted.data.properties.size]',
  'type = "integer"',
  'minimum = 0',
  '[types.auditNoted]',
  'description = "names no handler: stored, for the event feed only"',
];

async function start(t: TestContext) {
  const dir = tmpDir(t);
  const sink = await startReceiver(t, { status: () => 204, path: '/feed' });
  const types = write(dir, 'types.toml', TYPES_V1);
  const base = write(dir, 'service.toml', [
    '[service]',
    `host = "${HOST}"`,
    'port = 0',
    '[store]',
    'path = "events.db"',
    '[handlers]',
    // The default filter (compliance, scanJob, profile events): backup:completed reaches it by the type's handlers.
    `feed = { url = "${sink.url}" }`,
    '[catalogue]',
    'files = ["types.toml"]',
    '[log]',
    'format = "json"',
    'level = "info"',
  ]);
  const { run } = await startCli(t, ['--config', base]);
  const { port } = await logLine(run, 'listening for client connections');
  const nc = await within(connect({ servers: `${HOST}:${port as number}`, reconnect: false }), 'connect', WAIT_MS);
  t.after(() => nc.close().catch(() => {}));
  return { dir, types, sink, run, nc };
}

async function reloaded(run: Run, n: number): Promise<Record<string, unknown>> {
  await signal(run, 'SIGHUP');
  return logLine(run, 'event catalogue reloaded', { n, ms: WAIT_MS });
}

test('a catalogue type is accepted, checked against its schema, routed by its handlers, and refused once reloaded away', async (t) => {
  const { dir, types, sink, run, nc } = await start(t);
  const loaded = await logLine(run, 'event catalogue loaded');
  assert.deepEqual(
    [loaded.types, loaded.files, loaded.file_types],
    [KNOWN_EVENT_TYPES.length + 2, [types], ['backupCompleted', 'auditNoted']],
  );

  assert.deepEqual(await publish(nc, 'backupCompleted', 'b1', { size: 5 }), { id: 'b1' });
  const bad = await publish(nc, 'backupCompleted', 'b2', { size: 'big' });
  assert.deepEqual([bad.error?.code, bad.error?.field], ['EEVENT_INVALID', 'data.size']);
  const missing = await publish(nc, 'backupCompleted', 'b3', {});
  assert.deepEqual([missing.error?.field, missing.error?.reason], ['data.size', 'is required']);
  assert.deepEqual(await publish(nc, 'auditNoted', 'a1'), { id: 'a1' });
  assert.deepEqual(await publish(nc, 'scanJobCreated', 's1'), { id: 's1' });

  // The sink's route is decided as each event is stored: once s1 (stored after a1) is delivered, a1 was not routed.
  await until(() => ['b1', 's1'].every((id) => sink.got.some((g) => g.id === id)), 'b1 and s1 at the feed', WAIT_MS);
  assert.deepEqual(
    sink.got.map((g) => g.id),
    ['b1', 's1'],
    'backupCompleted by its handlers, scanJobCreated by the filter, auditNoted not at all',
  );
  assert.equal((JSON.parse(sink.got[0]!.body) as { data: unknown }).data !== undefined, true);

  // Reloaded away: backupCompleted goes, restoreStarted comes.
  write(dir, 'types.toml', ['[types.auditNoted]', '[types.restoreStarted]', 'handlers = ["feed"]']);
  const done = await reloaded(run, 1);
  assert.deepEqual(
    [done.added, done.removed, done.types],
    [['restoreStarted'], ['backupCompleted'], KNOWN_EVENT_TYPES.length + 2],
  );
  const gone = await publish(nc, 'backupCompleted', 'b4', { size: 1 });
  assert.equal(gone.error?.field, 'type');
  assert.match(gone.error!.reason, /^unknown event type "backupCompleted"; known types: compliance_ingest, /);
  assert.match(gone.error!.reason, /, nodeTerminated, k8s_audit, auditNoted, restoreStarted$/);
  assert.deepEqual(await publish(nc, 'restoreStarted', 'r1'), { id: 'r1' });
  await until(() => sink.got.some((g) => g.id === 'r1'), 'r1 at the feed', WAIT_MS);
});

test('a catalogue file broken on reload refuses the reload, names file:line, and keeps the catalogue in force', async (t) => {
  const { dir, types, run, nc } = await start(t);
  write(dir, 'types.toml', [...TYPES_V1, '[types.brokenAdded]', 'handlers = ["nosuch"]']);
  await signal(run, 'SIGHUP');
  const refused = await logLine(run, 'configuration reload refused; the running configuration is unchanged', {
    ms: WAIT_MS,
  });
  const problems = refused.problems as string[];
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(
    problems[0]!,
    new RegExp(
      `^${types.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:13: types\\.brokenAdded\\.handlers\\[0\\]: unknown handler "nosuch"`,
    ),
  );
  // The old catalogue: backupCompleted still checked, brokenAdded still unknown.
  assert.deepEqual(await publish(nc, 'backupCompleted', 'k1', { size: 0 }), { id: 'k1' });
  assert.equal((await publish(nc, 'backupCompleted', 'k2', { size: -1 })).error?.field, 'data.size');
  assert.match((await publish(nc, 'brokenAdded', 'k3')).error?.reason ?? '', /^unknown event type "brokenAdded"/);

  // Fixed, the next reload takes it.
  write(dir, 'types.toml', [...TYPES_V1, '[types.brokenAdded]', 'handlers = ["event_feed"]']);
  const done = await reloaded(run, 1);
  assert.deepEqual(done.added, ['brokenAdded']);
  assert.deepEqual(await publish(nc, 'brokenAdded', 'k4'), { id: 'k4' });
});

test('a broken catalogue file stops the start: exit 2, the problem as file:line: key: reason', async (t) => {
  const dir = tmpDir(t);
  const types = write(dir, 'types.toml', ['[types.backupCompleted.data]', 'type = "objet"']);
  const base = write(dir, 'service.toml', ['[catalogue]', 'files = ["types.toml"]']);
  const { code, stderr } = await runToExit(t, ['--config', base], WAIT_MS);
  assert.equal(code, 2, stderr);
  assert.ok(
    stderr.includes(`${types}:2: types.backupCompleted.data.type: must be equal to one of the allowed values`),
    stderr,
  );
});
