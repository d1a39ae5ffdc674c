// The service with `[store] backend = "jetstream"` as a leaf of a real nats-server hub: its store reaches JetStream
// through its own broker (internal-port.ts) and its [[leafnodes.remotes]] link, with no JetStream setting on a hub
// without a domain (the service adds no deny of its own on the link) and with the domain a hub announces. A request
// on events.<type> is answered after the PubAck, the sink gets the event from its durable consumer, the feed reads
// the stream.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { StringCodec } from 'nats';
import { startReceiver } from '@event-broker/test-support/http';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { until } from '@event-broker/test-support/wait';
import { streamLayout } from '../src/handlers/jetstream/layout.js';
import { connectTo } from './helpers/jetstream.js';
import { LINK_MS, startHub, startLeafService, hubStoreDir } from './helpers/leaf-hub.js';

const skip = natsServerSkip();
const sc = StringCodec();
const layout = streamLayout();
const ev = (type: string, id: string) => JSON.stringify({ specversion: '1.0', id, source: '/t', type });

async function leafWithStore(t: TestContext, jsLines: string) {
  const hub = await startHub(t, {
    extra: [`jetstream { store_dir: ${JSON.stringify(hubStoreDir(t))}${jsLines} }`],
  });
  const sink = await startReceiver(t);
  const svc = await startLeafService(t, [{ urls: [hub.leafUrl] }], {
    store: { backend: 'jetstream', request_timeout: LINK_MS },
    handlers: { event_feed: sink.url } as never,
  });
  return { hub, sink, svc };
}

for (const [name, jsLines] of [
  ['a hub without a domain (plain $JS.API)', ''],
  ['a hub with jetstream { domain } (the announced domain)', ', domain: HUB'],
] as const) {
  test(`events stored through the leaf link on ${name}, delivered to the sink and read back`, { skip }, async (t) => {
    const { hub, sink, svc } = await leafWithStore(t, jsLines);
    const answer = JSON.parse(
      (await svc.request('events.scanJobCreated', ev('scanJobCreated', 'j1'))).string(),
    ) as unknown;
    assert.deepEqual(answer, { id: 'j1' });
    // In the hub's stream, as the hub's own clients see it.
    const nc = await connectTo(t, hub.clientPort);
    const jsm = await nc.jetstreamManager(jsLines === '' ? {} : { domain: 'HUB' });
    const m = await jsm.streams.getMessage(layout.stream, { last_by_subj: layout.event('j1', ['event_feed']) });
    assert.equal(JSON.parse(sc.decode(m.data)).id, 'j1');
    await until(() => sink.got.length === 1, 'the sink gets the event', LINK_MS);
    assert.equal(JSON.parse(sink.got[0]!.body).id, 'j1');
    // A second request with the same id is a duplicate: nothing written.
    const again = JSON.parse(
      (await svc.request('events.scanJobCreated', ev('scanJobCreated', 'j1'))).string(),
    ) as unknown;
    assert.deepEqual(again, { id: 'j1', duplicate: true });
    assert.equal((await jsm.streams.info(layout.stream)).state.messages, 1);
  });
}

test('no remote link up within request_timeout: the start fails naming the remotes', { skip }, async (t) => {
  const nowhere = `nats://127.0.0.1:${await freePort()}`;
  await assert.rejects(
    startLeafService(t, [{ urls: [nowhere] }], { store: { backend: 'jetstream', request_timeout: 300 } }),
    /store\.backend: "jetstream": no \[\[leafnodes\.remotes\]\] link is up/,
  );
});
