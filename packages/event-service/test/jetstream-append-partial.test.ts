// A JetStream append whose events fare differently (a real nats-server; the client's calls redirected for one event
// so that JetStream itself answers it otherwise): each result honest on its own, what JetStream acknowledged counted
// in `held` even when the group rejects, and a rejected group safe to retry with the same ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { until } from '@event-broker/test-support/wait';
import type { EventBackend } from '../src/handlers/event-backend.js';
import { idToken, streamLayout } from '../src/handlers/jetstream/layout.js';
import { connectTo, event, openBackend, startJetStream } from './helpers/jetstream.js';

const skip = natsServerSkip();
const layout = streamLayout();

type Publish = JetStreamClient['publish'];

/** The backend's JetStream client publishes through `publish` (given the real one), opened on `nc`. */
function redirectPublish(
  nc: NatsConnection,
  publish: (real: Publish, ...args: Parameters<Publish>) => ReturnType<Publish>,
) {
  const jetstream = nc.jetstream.bind(nc);
  nc.jetstream = (opts) => {
    const js = jetstream(opts);
    const real = js.publish.bind(js);
    js.publish = (...args) => publish(real, ...args);
    return js;
  };
}

/** A sink consumer for `feed`, so `held` counts what is routed to it. */
async function feedConsumer(nc: NatsConnection): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(layout.stream, {
    durable_name: layout.durable('feed'),
    filter_subject: layout.sinkFilter('feed'),
    ack_policy: AckPolicy.Explicit,
  });
}

const isFor = (subject: string, id: string) => subject.endsWith(`.${idToken(id)}`);
const routed = (id: string) => event(id, 'order:created', ['feed']);

async function setup(t: Parameters<typeof startJetStream>[0], redirect: Parameters<typeof redirectPublish>[1]) {
  const js = await startJetStream(t);
  const nc = await connectTo(t, js.port);
  redirectPublish(nc, redirect);
  const backend: EventBackend = await openBackend(t, nc, { store: { request_timeout: 1000 } });
  await feedConsumer(nc);
  return { nc, backend };
}

test(
  'an event JetStream refuses in its answer fails alone: the rest of its group is stored and counted in held',
  { skip },
  async (t) => {
    const { backend } = await setup(t, (real, subject, data, opts) =>
      // Expecting another stream: JetStream answers this one with an error (expected stream does not match).
      real(subject, data, isFor(subject, 'b') ? { ...opts, expect: { ...opts?.expect, streamName: 'OTHER' } } : opts),
    );
    const results = await backend.append([routed('a'), routed('b'), routed('c')]);
    assert.deepEqual(
      results.map((r) => [r.id, r.seq > 0, r.duplicate]),
      [
        ['a', true, false],
        ['b', false, false],
        ['c', true, false],
      ],
    );
    assert.match(results[1]!.error!, /^JetStream refused it: .*stream.* \(err_code \d+\)$/);
    assert.equal(results[0]!.error, undefined);
    assert.ok(backend.held >= 2, `the two stored are counted at once: ${backend.held}`);
    assert.equal(await backend.get('b'), undefined);
    await until(async () => (await backend.refreshHeld()) === 2, 'two owed');
  },
);

test(
  'a publish with no answer rejects its group; what was acknowledged is counted, and the retry stores the rest once',
  { skip },
  async (t) => {
    let lose = true;
    const { backend } = await setup(t, (real, subject, data, opts) =>
      // A subject no stream holds: no responder, no answer from JetStream.
      real(lose && isFor(subject, 'b') ? 'nowhere.b' : subject, data, opts),
    );
    const group = [routed('a'), routed('b'), routed('c')];
    await assert.rejects(
      backend.append(group),
      /JetStream did not acknowledge 1 of 3 events \(2 acknowledged\): whether they are stored is unknown, and a retry with the same ids is safe/,
    );
    assert.ok(backend.held >= 2, `the two acknowledged are counted: ${backend.held}`);
    lose = false;
    const retry = await backend.append(group);
    assert.deepEqual(
      retry.map((r) => [r.id, r.duplicate, r.error]),
      [
        ['a', true, undefined],
        ['b', false, undefined],
        ['c', true, undefined],
      ],
    );
    await until(async () => (await backend.refreshHeld()) === 3, 'three owed, each once');
  },
);

test(
  'a subject found taken whose message is gone when read back refuses that event alone, saying why',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const nc = await connectTo(t, js.port);
    // The duplicate lookup's read: the message is deleted just before it (as max_age or a deletion would).
    const jetstreamManager = nc.jetstreamManager.bind(nc);
    nc.jetstreamManager = async (opts) => {
      const jsm: JetStreamManager = await jetstreamManager(opts);
      const getMessage = jsm.streams.getMessage.bind(jsm.streams);
      jsm.streams.getMessage = async (stream, query) => {
        const subject = (query as { last_by_subj?: string }).last_by_subj;
        if (subject !== undefined && isFor(subject, 'taken')) await jsm.streams.purge(stream, { filter: subject });
        return getMessage(stream, query);
      };
      return jsm;
    };
    const backend = await openBackend(t, nc);
    // Its subject holds a message (another id): the append's publish is refused as a duplicate by subject.
    await nc.jetstream().publish(layout.event('taken', []), '{}', { msgID: 'not-taken' });
    const [taken, fine] = await backend.append([event('taken'), event('fine')]);
    assert.equal(taken!.seq, 0);
    assert.match(taken!.error!, /subject held a message when it was published .*gone when read back .*not stored/);
    assert.equal(fine!.error, undefined);
    assert.ok(fine!.seq > 0);
  },
);
