// A message over our max_payload from a leaf that allows more (issue 11 follow-up): nats-server checks no size on a
// leaf link and passes such a message on (observed between two nats-server 2.9.10, hub 1 MB, leaf 4 MB), so a
// nats-server leaf with a larger max_payload sends it. Ending the link for it would cut every client behind the
// leaf; the service reads past it without holding it, drops it, counts it (/metrics) and keeps the link. Debian's
// nats-server as the leaf, the official client on both sides.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, StringCodec } from 'nats';
import { startEventService, type EventService } from '../src/index.js';
import { natsLeafLinks, natsServerSkip, startNatsLeaf } from '@event-broker/test-support/nats-server';
import { until, within } from '@event-broker/test-support/wait';
import { untilFlows } from '@event-broker/test-support/flow';

const sc = StringCodec();
const HOST = '127.0.0.1';
const MiB = 1024 * 1024;
/** A nats-server child and links across it on a machine the whole suite shares. */
const WAIT_MS = 10_000;

interface LeafzLink {
  name: string;
  port: number;
  in_msgs: number;
}

async function json<T>(svc: EventService, path: string): Promise<T> {
  const res = await within(fetch(`http://${HOST}:${svc.monitorPort}${path}`), `GET ${path}`);
  return (await res.json()) as T;
}

async function metric(svc: EventService, name: string): Promise<number | undefined> {
  const res = await within(fetch(`http://${HOST}:${svc.monitorPort}/metrics`), 'GET /metrics');
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await res.text());
  return m ? Number(m[1]) : undefined;
}

async function startService(t: TestContext): Promise<EventService> {
  const svc = await startEventService({
    // max_payload 1 MiB (the default), as nats-server's.
    service: { host: HOST, port: 0 },
    leafnodes: { host: HOST, port: 0 },
    monitor: { host: HOST, port: 0 },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  return svc;
}

test(
  'a nats-server leaf with a larger max_payload: its over-size message is dropped and counted, the link stays up, the next message arrives',
  { skip: natsServerSkip() },
  async (t) => {
    const svc = await startService(t);
    const leaf = await startNatsLeaf(svc.leafnodePort!, { config: ['max_payload: 4MB'] });
    t.after(() => leaf.stop());
    await until(
      async () => (await natsLeafLinks(leaf)).length === 1,
      'the leaf attached',
      WAIT_MS,
      () => leaf.log(),
    );

    // A subscriber on our side; a publisher on the leaf, whose INFO allows 4 MB.
    const ours = await within(connect({ servers: `${HOST}:${svc.port}` }), 'connect to the service');
    t.after(() => ours.close());
    const got: string[] = [];
    const sizes: number[] = [];
    ours.subscribe('mp.>', {
      callback: (err, m) => {
        if (err) return;
        sizes.push(m.data.length);
        if (m.data.length < 100) got.push(`${m.subject}:${sc.decode(m.data)}`);
      },
    });
    await ours.flush();
    const onLeaf = await within(connect({ servers: `${HOST}:${leaf.clientPort}` }), 'connect to the leaf');
    t.after(() => onLeaf.close());
    assert.equal(onLeaf.info?.max_payload, 4 * 1024 * 1024, 'the leaf allows 4 MB to its clients');
    // Our interest reaches the leaf asynchronously: publish until one arrives.
    await untilFlows(
      () => onLeaf.publish('mp.ready', sc.encode('r')),
      () => got.includes('mp.ready:r'),
      'a message from the leaf reaching the service',
      WAIT_MS,
    );
    const before = (await json<{ leafs: LeafzLink[] }>(svc, '/leafz')).leafs;
    assert.equal(before.length, 1);

    onLeaf.publish('mp.big', new Uint8Array(2 * MiB));
    onLeaf.publish('mp.after', sc.encode('next'));
    await onLeaf.flush();
    await until(
      () => got.includes('mp.after:next'),
      'the message after the over-size one arrives',
      WAIT_MS,
      () => JSON.stringify(got),
    );

    assert.ok(
      sizes.every((n) => n <= MiB),
      `nothing over max_payload delivered: ${JSON.stringify(sizes)}`,
    );
    const after = (await json<{ leafs: LeafzLink[] }>(svc, '/leafz')).leafs;
    assert.deepEqual(
      after.map((l) => [l.name, l.port]),
      before.map((l) => [l.name, l.port]),
      'the same link, never closed and redialled',
    );
    const handlerz = await json<{ leafnodes: { total_links: number } }>(svc, '/handlerz');
    assert.equal(handlerz.leafnodes.total_links, 1, 'one link since start');
    assert.equal(await metric(svc, 'event_service_leafnode_oversize_dropped_total'), 1);
    assert.doesNotMatch(leaf.log(), /Maximum Payload|Payload Violation/, 'the leaf was told nothing');
  },
);
