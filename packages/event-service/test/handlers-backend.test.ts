// The handlers over a backend opened asynchronously at start (`[store] backend` other than "sqlite":
// handlers/lifecycle.ts openRemote, remote-backend.ts): the service's start awaits it and fails naming it when it
// cannot be opened; until it is open events are refused with EEVENT_STORE; once open the intake commits through it,
// the feed reads it, /handlerz counts from it, and each sink runs as a pump over it. The backend standing in for
// JetStream here is the SQLite one (its own conformance suite: sqlite-backend.test.ts), opened when the test says.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@event-broker/shared';
import { deferred, until, within } from '@event-broker/test-support/wait';
import { resolveServiceConfig } from '../src/config.js';
import type { ServiceConfig } from '../src/config-types.js';
import { embed } from '../src/embedded.js';
import { EmbeddedConn } from '../src/embedded-conn.js';
import { EventServer } from '../src/server.js';
import type { EventBackend } from '../src/handlers/event-backend.js';
import { FEED_QUERY_SUBJECT, type FeedPage } from '../src/handlers/event-feed.js';
import { startHandlers } from '../src/handlers/lifecycle.js';
import type { SinkPumpDeps } from '../src/handlers/remote-backend.js';
import type { SinkSettings } from '../src/handlers/sink-pool.js';
import type { SinkPump } from '../src/handlers/sink-runner.js';
import { SqliteBackend } from '../src/handlers/sqlite-backend.js';
import { SqliteEventStore } from '../src/handlers/store.js';

const logger = createLogger({ format: 'text', level: 'silent', name: 'test' });

const event = (id: string) => ({
  specversion: '1.0',
  id,
  source: '/test',
  type: 'scanJobCreated',
  producer: { id: 'p1', name: 'tester', type: 'service' },
  data: { n: 1 },
});

/** A resolved configuration naming the network backend (the key is read through a cast until the schema has it). */
function jetstreamConfig(extra: Record<string, unknown> = {}): ServiceConfig {
  const config = resolveServiceConfig({
    service: { host: '127.0.0.1', port: 0 },
    store: {},
    log: { level: 'silent' },
    ...extra,
  });
  return { ...config, store: { ...config.store!, backend: 'jetstream' } as NonNullable<ServiceConfig['store']> };
}

test('a service whose [store] backend cannot be opened does not start: the error names the setting', async (t) => {
  const server = new EventServer(jetstreamConfig(), logger);
  t.after(() => server.close());
  await assert.rejects(server.listen(), (err: Error) => {
    assert.match(err.message, /^store\.backend: "jetstream"/);
    return true;
  });
  assert.notEqual(server.state, 'running');
});

/** A pump that records what it was given and counts its wake-ups; delivery is the real BackendSink's. */
class RecordingPump implements SinkPump {
  state = 'running' as const;
  stats = { delivered: 0, failedAttempts: 0, retries: 0, dead: 0 };
  lastError = undefined;
  lastDeliveredAt = undefined;
  wakes = 0;
  resumed = 0;
  closed = false;
  constructor(
    readonly settings: SinkSettings,
    readonly deps: SinkPumpDeps,
  ) {}
  get name(): string {
    return this.settings.name;
  }
  get url(): string {
    return this.settings.url;
  }
  wake(): void {
    this.wakes++;
  }
  resume(): void {
    this.resumed++;
  }
  close(): void {
    this.closed = true;
  }
}

async function handlersOn(t: TestContext, config: ServiceConfig, open: () => Promise<EventBackend>) {
  const server = new EventServer(config, logger, { handlers: false });
  await server.listen();
  t.after(() => server.close());
  const svc = embed(server, logger);
  t.after(() => svc.close());
  const pumps: RecordingPump[] = [];
  const conn = new EmbeddedConn(server.broker, { limits: () => config.service, logger, system: true });
  const h = startHandlers(
    {
      conn,
      config: () => config,
      logger,
      openBackend: open,
      createSinkPump: (settings, deps) => {
        const p = new RecordingPump(settings, deps);
        pumps.push(p);
        return p;
      },
    },
    { atServiceStart: true },
  );
  t.after(() => h.close());
  return { svc, h, pumps };
}

test('a backend opened at start: events are refused until it opens, then committed, read and counted through it', async (t) => {
  const opened = deferred<EventBackend>();
  const backend = new SqliteBackend(new SqliteEventStore(':memory:'), logger);
  const config = jetstreamConfig({ handlers: { feed: { url: 'http://127.0.0.1:9/hook' } } });
  const { svc, h, pumps } = await handlersOn(t, config, () => opened.promise);
  assert.equal(h.backendKind, 'jetstream');

  const before = (await svc.request('events.scanJobCreated', JSON.stringify(event('early')))).json() as {
    error: { code: string; store_code: string };
  };
  assert.deepEqual([before.error.code, before.error.store_code], ['EEVENT_STORE', 'ESTORE_OPEN']);
  assert.equal(pumps.length, 0, 'no sink runs before the backend is open');
  assert.equal((await h.status()).store_error?.store_code, 'ESTORE_WRITE', '/handlerz says the store is not usable');

  opened.resolve(backend);
  await within(h.ready, 'the backend opened');
  await until(() => pumps.length === 1, 'the sink configured meanwhile starts as a pump over the backend');
  assert.equal(pumps[0]!.name, 'feed');
  assert.equal(pumps[0]!.url, 'http://127.0.0.1:9/hook');
  assert.equal(pumps[0]!.deps.backend, backend);

  const reply = (await svc.request('events.scanJobCreated', JSON.stringify(event('e1')))).json();
  assert.deepEqual(reply, { id: 'e1' });
  assert.equal((await backend.get('e1'))?.type, 'scanJobCreated', 'committed through the backend');
  assert.deepEqual(await backend.sinkCounts('feed'), { pending: 1, dead: 0 }, 'routed to the sink');
  assert.ok(pumps[0]!.wakes > 0, 'the pump is woken by the commit');

  const page = (await svc.request(FEED_QUERY_SUBJECT, '{}')).json() as FeedPage;
  assert.deepEqual(
    page.events.map((e) => (e.event as { id: string }).id),
    ['e1'],
  );
  const status = await h.status();
  assert.equal(status.store_error, undefined);
  assert.equal(status.held, 1);
  assert.equal(status.last_seq, await backend.lastSeq());
  assert.deepEqual(
    status.sinks.map((s) => [s.name, s.backlog, s.dead_letters, s.health]),
    [['feed', 1, 0, 'ok']],
  );
  assert.equal(await h.health(), undefined);

  await h.close();
  assert.equal(pumps[0]!.closed, true, 'the pumps stop with the handlers');
  await assert.rejects(backend.get('e1'), 'the backend is closed with them');
});

test('a backend that cannot be opened at the service start: ready rejects with its error', async (t) => {
  const { h } = await handlersOn(t, jetstreamConfig(), () => Promise.reject(new Error('no JetStream here')));
  await assert.rejects(h.ready, /no JetStream here/);
  assert.match((await h.health()) ?? '', /event store cannot be opened/);
});
