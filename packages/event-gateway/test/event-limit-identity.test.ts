// event_limit holds each publisher itself, not a number (issue 11, finding 4): the service's client ids and leaf
// link ids both start at 1, so the gateway's link and the first direct client share the number 1. Since issue 12 the
// gateway sends its clients' events on credit (src/event-credit.ts): its client is held at the gateway and the link
// never is, while the direct client cid 1 is held by the service. A real service (store, an HTTP sink that is down,
// event_limit 50), the real gateway attached over its TLS leafnode link, an external producer through the gateway
// and an internal one straight to the service, official `nats` clients; what was stored is read from /handlerz.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { StringCodec } from 'nats';
import { startDownSink } from '@event-broker/test-support/http';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { devPki, externalClient, getJson, internalClient, startService, startTestGateway } from './helpers/bridge.js';

const sc = StringCodec();
const LIMIT = 50;
/** The sink answers 503 until `up`; after an outage its retries back off (up to seconds): bounded generously. */
const DRAIN_MS = 90_000;

interface HandlerzView {
  handlers: { held: number; last_seq: number; intake: { paused_publishers: number } };
  leafnodes: { links: { lid: number; in_msgs: number }[] };
}

test('the gateway link (lid 1) and the direct client cid 1 are told apart at event_limit: the gateway holds its client, the service the direct one, and both resume', async (t) => {
  const sink = await startDownSink(t);
  const received = sink.received;

  const pki = await devPki(t);
  const service = await startService(t, pki, {
    config: {
      // Pings every 300 ms, stale after 3: a publisher the service itself paused must not be closed as stale.
      service: { event_limit: LIMIT, ping_interval: 300, ping_max: 3 },
      store: { path: path.join(tmpDir(t, 'event-limit-identity-'), 'events.db') },
      handlers: { event_feed: { url: sink.url, max_attempts: 1000, timeout_ms: 5000 } },
    },
  });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${service.leafnodePort}`);
  const handlerz = () => getJson<HandlerzView>(`http://127.0.0.1:${service.monitorPort}/handlerz`);
  /** Events the gateway sent on credit (the link also carries its credit requests), and those of direct client `cid` (/connz). */
  const linkEvents = () => gateway.eventCredit.stats().spent_total;
  const directIn = async (cid: number) =>
    (
      await getJson<{ connections: { cid: number; in_msgs: number }[] }>(
        `http://127.0.0.1:${service.monitorPort}/connz`,
      )
    ).connections.find((c) => c.cid === cid)?.in_msgs ?? 0;
  /**
   * The stored count once `paused` publishers are paused and every event the service read is committed: a paused
   * publisher's socket is not read, so the events it can store are those already read (in_msgs, or sent on credit),
   * and last_seq reaches their number. `read()` says how many events were read.
   */
  const settled = async (
    what: string,
    paused: number,
    read: (view: HandlerzView) => Promise<number>,
  ): Promise<number> => {
    let seen = '';
    let stored = -1;
    await until(
      async () => {
        const view = await handlerz();
        const events = await read(view);
        seen = `paused ${view.handlers.intake.paused_publishers}, stored ${view.handlers.last_seq}, read ${events}`;
        stored = view.handlers.last_seq;
        return view.handlers.intake.paused_publishers === paused && stored === events;
      },
      what,
      30_000,
      () => seen,
    );
    return stored;
  };
  const event = (id: string) =>
    sc.encode(
      JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'scanJobUpdated', data: { pad: 'x'.repeat(1024) } }),
    );

  // Through the gateway: plain events past the limit, so the gateway holds its client; the link goes on.
  const token = await pki.devToken('producer', { pub: { allow: ['events.>'] } });
  const external = await externalClient(t, pki, gateway.port, token);
  const VIA_GATEWAY = 600;
  for (let i = 0; i < VIA_GATEWAY; i++) external.publish('events.scanJobUpdated', event(`g${i}`));
  await until(
    () => gateway.eventCredit.stats().clients_held === 1 && linkEvents() === LIMIT,
    'the external producer held at the gateway, the room taken',
    10_000,
  );
  await until(() => sink.refused > 0, 'the sink was tried and refused', 10_000);
  const afterGateway = await settled(
    'every event sent on credit is stored, no publisher paused by the service',
    0,
    async () => linkEvents(),
  );
  assert.ok(afterGateway < VIA_GATEWAY, `the producer was held back (${afterGateway} of ${VIA_GATEWAY} stored)`);

  // A direct client of the service: the first, so client id 1, the number the link has among leaf links.
  const internal = await internalClient(t, pki, service.port);
  const ids = await getJson<{ connections: { cid: number }[] }>(`http://127.0.0.1:${service.monitorPort}/connz`);
  assert.deepEqual(
    ids.connections.map((c) => c.cid),
    [1],
    'the direct client is cid 1',
  );
  assert.deepEqual(
    (await handlerz()).leafnodes.links.map((l) => l.lid),
    [1],
    "the gateway's link is lid 1",
  );

  const DIRECT = 2000;
  for (let i = 0; i < DIRECT; i++) internal.publish('events.scanJobUpdated', event(`d${i}`));
  let flushed = false;
  const flush = internal.flush().then(() => (flushed = true));
  // in_msgs counts the event the client is held at (read and checked, not yet routed): all but that one is stored.
  const afterDirect = await settled(
    'every event read from the direct client is stored, it is paused',
    1,
    async () => linkEvents() + (await directIn(1)) - 1,
  );
  const view = await handlerz();
  // What it had sent before its pause took hold (a socket read or two of 1 KiB events) may be stored; not 2,000.
  assert.ok(
    afterDirect - afterGateway < DIRECT / 4,
    `the direct client was held back (${afterDirect - afterGateway} of ${DIRECT} stored)`,
  );
  assert.equal(view.handlers.intake.paused_publishers, 1, 'the direct client paused by the service, the link not');
  assert.equal(gateway.eventCredit.stats().clients_held, 1, 'the external producer still held at the gateway');
  assert.equal(flushed, false, "the direct client's flush waits: its PING is not read while paused");
  t.diagnostic(
    `stored before the holds took hold: ${afterGateway} of ${VIA_GATEWAY} via the gateway, ${afterDirect - afterGateway} of ${DIRECT} direct`,
  );

  // The sink recovers: both publishers resume, and every event is stored and delivered once.
  sink.up();
  await within(flush, 'the direct client flush completes once there is room', DRAIN_MS);
  await within(external.flush(), 'the external client flush completes', DRAIN_MS);
  const want = [
    ...Array.from({ length: VIA_GATEWAY }, (_, i) => `g${i}`),
    ...Array.from({ length: DIRECT }, (_, i) => `d${i}`),
  ];
  await until(
    () => want.every((id) => received.has(id)),
    'every event reaches the sink',
    DRAIN_MS,
    () => `${received.size} of ${want.length}`,
  );
  const end = await handlerz();
  assert.equal(end.handlers.last_seq, want.length, 'each stored once');
  assert.equal(end.handlers.intake.paused_publishers, 0);
});
