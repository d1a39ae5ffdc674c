// What the sink-http-*.test.ts files share: an HttpSink over an in-memory store holding the events it owes, real
// node:http receivers whose answers a test decides, the test secrets, and the Standard Webhooks check of what a
// receiver got. The tests are those files'.
import type { TestContext } from 'node:test';
import type http from 'node:http';
import { Webhook } from 'standardwebhooks';
import { createLogger, type Logger } from '@event-broker/shared';
import { HttpSink } from '../../src/handlers/sinks/http.js';
import type { HttpSinkOptions } from '../../src/handlers/sinks/options.js';
import { SqliteEventStore } from '../../src/handlers/store.js';
import { type Delivery, startReceiver } from '@event-broker/test-support/http';

export const logger: Logger = createLogger({ format: 'text', level: 'silent', name: 'test' });
export const SECRET = `whsec_${Buffer.from('a test secret of 32 bytes length').toString('base64')}`;
export const OLD_SECRET = `whsec_${Buffer.from('the previous secret, rotated out').toString('base64')}`;

/** A receiver whose answer to the n-th request (0-based) `answer` decides. */
export const receiver = (t: TestContext, answer: (n: number, res: http.ServerResponse) => void, port = 0) =>
  startReceiver(t, { answer, port, path: '/hook' });

export function setup(
  t: TestContext,
  opts: Partial<HttpSinkOptions> & { url: string; name?: string },
  ids = ['e1', 'e2', 'e3'],
) {
  const store = new SqliteEventStore(':memory:');
  t.after(() => store.close());
  const name = opts.name ?? 'feed';
  store.append(
    ids.map((id) => ({
      id,
      type: 'scanJobCreated',
      body: JSON.stringify({ specversion: '1.0', id, source: 's', type: 'scanJobCreated' }),
      sinks: [name],
    })),
  );
  const sink = new HttpSink(store, {
    name,
    secrets: [SECRET],
    backoffBaseMs: 10,
    backoffCapMs: 50,
    timeoutMs: 1000,
    logger,
    ...opts,
  });
  t.after(() => sink.close());
  return { store, sink };
}

export const ev = (id: string, data: unknown = { n: id }) =>
  JSON.stringify({ specversion: '1.0', id, source: 's', type: 'scanJobCreated', producer: { id: 'p' }, data });

export function optSetup(
  t: TestContext,
  opts: Partial<HttpSinkOptions> & { url: string },
  events: Array<[string, unknown?]>,
) {
  const store = new SqliteEventStore(':memory:');
  t.after(() => store.close());
  store.append(events.map(([id, data]) => ({ id, type: 'scanJobCreated', body: ev(id, data), sinks: ['feed'] })));
  const sink = new HttpSink(store, {
    name: 'feed',
    secrets: [SECRET],
    backoffBaseMs: 10,
    backoffCapMs: 50,
    timeoutMs: 2000,
    logger,
    ...opts,
  });
  t.after(() => sink.close());
  return { store, sink };
}

export const verify = (g: Delivery) => new Webhook(SECRET).verify(g.body, g.headers as Record<string, string>);

export function many(t: TestContext, opts: Partial<HttpSinkOptions> & { url: string }, n: number) {
  return setup(
    t,
    opts,
    Array.from({ length: n }, (_, i) => `m${i}`),
  );
}
