// What a receiver or a sink's settings can make a pump wait, bounded: a 429's Retry-After is honoured up to
// MAX_RETRY_AFTER_MS (a receiver answering "in 3000 years" does not park the sink's events for good), and a wait
// longer than a timer can hold (a tiny `rate`) is slept in bounded steps, not turned by Node into a 1 ms spin; a
// timeout_ms past a timer is refused (it timed every POST out at once); a 410's log line holds no URL credentials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startReceiver } from '@event-broker/test-support/http';
import { quietFor, until } from '@event-broker/test-support/wait';
import { BackendSink, sinkQueueOptions } from '../src/handlers/backend-sink.js';
import { SqliteBackend } from '../src/handlers/sqlite-backend.js';
import { SinkAccount } from '../src/handlers/sinks/account.js';
import { MAX_RETRY_AFTER_MS, planFailure } from '../src/handlers/sinks/failure.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { loadServiceConfig } from '../src/config.js';
import { createSinkTransport } from '../src/handlers/sinks/transport-by-scheme.js';
import { logger } from './helpers/http-sink.js';
import { refused } from './helpers/service-config.js';

const tooLate = (retryAfter: string) => ({
  delivered: false,
  id: 'x',
  status: 429,
  retryAfter,
  problem: 'HTTP 429',
});

test("a 429's Retry-After far in the future is cut to MAX_RETRY_AFTER_MS; a near one is honoured as given", () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  for (const far of ['99999999999', 'Fri, 01 Jan 5026 00:00:00 GMT']) {
    const plan = planFailure([{ attempts: 0 }], tooLate(far), 10, now);
    assert.ok(!plan.gone);
    assert.equal(plan.hintedMs, MAX_RETRY_AFTER_MS, far);
  }
  const near = planFailure([{ attempts: 0 }], tooLate('120'), 10, now);
  assert.ok(!near.gone);
  assert.equal(near.hintedMs, 120_000);
  // An unordered sink's pause is the same bound.
  const account = new SinkAccount({ name: 's', url: 'http://127.0.0.1:9/', logger, now: () => now }, false);
  const out = account.failed([{ attempts: 0 }], tooLate('99999999999'), 'x');
  assert.ok(!out.gone);
  assert.equal(out.retryDelayMs, MAX_RETRY_AFTER_MS);
  assert.equal(account.pausedFor(now), MAX_RETRY_AFTER_MS);
});

test('a rate so low its wait passes a timer (2^31 ms) sleeps, it does not spin the pump', async (t) => {
  const r = await startReceiver(t, { status: () => 204 });
  const store = new SqliteEventStore(':memory:');
  const backend = new SqliteBackend(store, logger);
  t.after(() => backend.close());
  await backend.append(
    ['slow1', 'slow2'].map((id) => ({ id, type: 'scanJobCreated', body: `{"id":"${id}"}`, sinks: ['feed'] })),
  );
  let clock = 0;
  const opts = { url: r.url, rate: 1e-7, burst: 1, now: () => (clock++, Date.now()) };
  const sink = new BackendSink(backend.sinkQueue('feed', sinkQueueOptions({ maxInFlight: 1 })), {
    name: 'feed',
    logger,
    ...opts,
  });
  t.after(() => sink.close());
  await until(() => r.got.length === 1, 'the burst goes');
  const before = clock;
  await quietFor(300);
  assert.equal(r.got.length, 1, 'the second waits for its token');
  // Spinning, the pump looks at the clock every millisecond or so; sleeping, a few times at most.
  assert.ok(clock - before < 20, `the clock was read ${clock - before} times in 300 ms`);
});

test("a 410's log line names the sink's URL without its credentials or query", () => {
  const lines: string[] = [];
  const line = (obj: object, msg: string) => void lines.push(JSON.stringify(obj) + msg);
  const url = 'https://user:pw-secret@hooks.example:8443/in?token=tok-secret';
  const account = new SinkAccount({ name: 's', url, logger: { warn: line, error: line } }, true);
  const out = account.failed([{ attempts: 0 }], { ...tooLate(''), status: 410, problem: 'HTTP 410' }, 'x');
  assert.ok(out.gone);
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes('secret'), lines[0]);
  assert.ok(lines[0]!.includes('https://hooks.example:8443/in'), lines[0]);
});

test('timeout_ms above what a timer holds is refused by the config; a program passing one gets the longest timer', async (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'base.toml', ['[handlers.feed]', 'url = "http://127.0.0.1:9/"', 'timeout_ms = 3000000000']);
  const err = refused(() => loadServiceConfig({ configPath: file }));
  assert.ok(
    err.problems.some(
      (p) => p.line === 3 && p.key === 'handlers.feed.timeout_ms' && /from 1 to 2147483647/.test(p.reason),
    ),
    err.message,
  );
  // Overflowing, Node's timer fired at once: every POST "timed out" before its receiver could answer.
  const r = await startReceiver(t, { answer: (_n, res) => void setTimeout(() => res.writeHead(204).end(), 50) });
  const transport = createSinkTransport({ name: 'feed', url: r.url, timeoutMs: 3_000_000_000, logger }, 1);
  t.after(() => transport.close());
  const outcome = await transport.post([{ id: 'e1', body: '{"id":"e1"}' }], Date.now());
  assert.equal(outcome.problem, 'HTTP 204');
  assert.ok(outcome.delivered);
});
