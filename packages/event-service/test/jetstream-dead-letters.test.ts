// The JetStream backend's dead-letter listing against a real nats-server: dead letters made out of event order, listed
// oldest event first with `after` and `limit`, read from the dead stream a chunk a pull (the pull requests seen on the
// wire), never all at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headers as natsHeaders } from 'nats';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { DEAD_READ_CHUNK } from '../src/handlers/jetstream/dead-letters.js';
import { HEADERS, streamLayout } from '../src/handlers/jetstream/layout.js';
import { connectTo, openBackend, startJetStream } from './helpers/jetstream.js';

const skip = natsServerSkip();
const layout = streamLayout();

test(
  'dead letters are listed oldest event first, after and limit applied, reading a chunk a pull',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const nc = await connectTo(t, js.port);
    const backend = await openBackend(t, nc);
    // Dead letters as sink-queue.ts dead() writes them, in an order unlike their events' (seq 1..n, shuffled).
    const n = DEAD_READ_CHUNK * 4 + 17;
    const seqs = Array.from({ length: n }, (_, i) => ((i * 389) % n) + 1);
    const pubs = [];
    for (const seq of seqs) {
      for (const sink of seq % 3 === 0 ? ['feed', 'cfgingest'] : ['feed']) {
        const h = natsHeaders();
        h.set(HEADERS.id, `e${seq}`);
        h.set(HEADERS.seq, String(seq));
        h.set(HEADERS.type, 'scanJobCreated');
        h.set(HEADERS.storedAt, '1');
        h.set(HEADERS.error, 'HTTP 500 after 3 attempts');
        h.set(HEADERS.attempts, '3');
        pubs.push(nc.jetstream().publish(layout.dead(sink, `e${seq}`), `{"id":"e${seq}"}`, { headers: h }));
      }
    }
    await Promise.all(pubs);
    // Every pull request for the dead stream, as the server receives it.
    const asked: number[] = [];
    const pulls = nc.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${layout.deadStream}.>`, {
      callback: (_err, m) => asked.push((m.json() as { batch: number }).batch),
    });
    t.after(() => pulls.unsubscribe());
    await nc.flush();

    const page = await backend.deadLetters({ sink: 'feed', after: 100, limit: 5 });
    assert.deepEqual(
      page.map((d) => [d.seq, d.id, d.sink, d.attempts, d.lastError]),
      [101, 102, 103, 104, 105].map((s) => [s, `e${s}`, 'feed', 3, 'HTTP 500 after 3 attempts']),
    );
    const both = await backend.deadLetters({ after: 2, limit: 4 });
    assert.deepEqual(
      both.map((d) => [d.seq, d.sink]),
      [
        [3, 'cfgingest'],
        [3, 'feed'],
        [4, 'feed'],
        [5, 'feed'],
      ],
    );
    const last = await backend.deadLetters({ sink: 'cfgingest', after: n - 3, limit: 10 });
    assert.deepEqual(
      last.map((d) => d.seq),
      [n - 2, n - 1, n].filter((s) => s % 3 === 0),
    );
    await nc.flush();
    assert.ok(asked.length >= 5, `pulled in chunks: ${asked.join(', ')}`);
    assert.ok(
      asked.every((b) => b <= DEAD_READ_CHUNK),
      `no pull asks more than ${DEAD_READ_CHUNK}: ${asked.join(', ')}`,
    );
  },
);
