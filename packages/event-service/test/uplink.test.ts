// shared's Uplink (the leaf side the gateway dials with) against real hubs: our service's [leafnodes] listener and
// Debian's nats-server 2.9, the same assertions for both (the two ends are helpers/uplink-ends.ts). Pub/sub,
// request/reply and queue groups cross both ways; nothing crosses that the other side does not want (counted on the
// hub's /leafz); a hub restarted under a running uplink gets every publish accepted meanwhile, in order, and a
// buffer too small for the outage pauses the publisher. TLS to our listener is uplink-tls.test.ts.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { headers, StringCodec, type NatsConnection } from 'nats';
import { collect, fence, uniqueSubject, untilFlows } from '@event-broker/test-support/flow';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { quietFor, until, within } from '@event-broker/test-support/wait';
import { FLOW_MS, hubClient, natsHub, ourHub, startGateway, type Gateway, type Hub } from './helpers/uplink-ends.js';

const sc = StringCodec();
const HOST = '127.0.0.1';

// --- one suite, two hubs -----------------------------------------------------------------------------------

const HUBS: { name: string; make: () => Promise<Hub>; skip: string | false }[] = [
  { name: 'event-service', make: ourHub, skip: false },
  { name: 'nats-server', make: natsHub, skip: natsServerSkip() },
];

for (const target of HUBS) {
  describe(`uplink to ${target.name} as the hub`, { skip: target.skip }, () => {
    let hub: Hub;
    let gw: Gateway;
    let internal: NatsConnection;

    before(async () => {
      hub = await target.make();
      await hub.start();
      gw = await startGateway(`nats://${HOST}:${hub.leafPort}`);
      await within(gw.uplink.waitUntilUp(FLOW_MS), 'uplink up', FLOW_MS);
      internal = await hubClient(hub);
    });

    after(async () => {
      await internal?.close();
      await gw?.close();
      await hub?.dispose();
    });

    it('reports the hub it reached', () => {
      const h = gw.uplink.hub!;
      assert.equal(gw.uplink.up, true);
      assert.equal(gw.uplink.state, 'up');
      assert.equal(h.url, `nats://${HOST}:${hub.leafPort}`);
      assert.equal(h.tls, false);
      assert.equal(h.headers, true);
      assert.ok(h.serverId.length > 0);
    });

    it("a gateway client's publish reaches an internal subscriber, and an internal publish a gateway subscriber, headers included", async () => {
      const up = uniqueSubject('up');
      const got = collect(internal.subscribe(up));
      await internal.flush();
      await untilFlows(
        () => gw.nc.publish(up, sc.encode('probe')),
        () => got.length > 0,
        'gateway → hub interest',
      );
      await fence((m) => gw.nc.publish(up, sc.encode(m)), got, 'the probes in flight land');
      got.length = 0;
      const h = headers();
      h.set('X-Test', 'yes');
      const withHeaders: string[] = [];
      // A second subscriber on a subject the hub already wants: in place once the hub answered the flush.
      internal.subscribe(up, { callback: (_e, m) => m.headers && withHeaders.push(m.headers.get('X-Test')) });
      await internal.flush();
      gw.nc.publish(up, sc.encode('one'));
      gw.nc.publish(up, sc.encode('two'), { headers: h });
      await gw.nc.flush();
      await until(() => got.length === 2 && withHeaders.length === 1, 'both messages upstream', FLOW_MS);
      assert.deepEqual(got, ['one', 'two']);
      assert.deepEqual(withHeaders, ['yes']);

      const down = uniqueSubject('down');
      const gotDown = collect(gw.nc.subscribe(down));
      await gw.nc.flush();
      await untilFlows(
        () => internal.publish(down, sc.encode('probe')),
        () => gotDown.length > 0,
        'hub → gateway interest',
      );
      await fence((m) => internal.publish(down, sc.encode(m)), gotDown, 'the probes in flight land');
      gotDown.length = 0;
      for (let i = 0; i < 5; i++) internal.publish(down, sc.encode(`d${i}`));
      await internal.flush();
      await until(() => gotDown.length === 5, 'five messages down', FLOW_MS);
      assert.deepEqual(gotDown, ['d0', 'd1', 'd2', 'd3', 'd4']);
    });

    it('request/reply works both ways', async () => {
      const internalSvc = uniqueSubject('svc.internal');
      const gatewaySvc = uniqueSubject('svc.gateway');
      internal.subscribe(internalSvc, { callback: (_e, m) => m.respond(sc.encode(`internal:${sc.decode(m.data)}`)) });
      gw.nc.subscribe(gatewaySvc, { callback: (_e, m) => m.respond(sc.encode(`gateway:${sc.decode(m.data)}`)) });
      await internal.flush();
      await gw.nc.flush();
      let reply: string | undefined;
      await untilFlows(
        () =>
          void gw.nc.request(internalSvc, sc.encode('q'), { timeout: 300 }).then(
            (m) => (reply = sc.decode(m.data)),
            () => {},
          ),
        () => reply !== undefined,
        'gateway → hub request',
      );
      assert.equal(reply, 'internal:q');
      let back: string | undefined;
      await untilFlows(
        () =>
          void internal.request(gatewaySvc, sc.encode('r'), { timeout: 300 }).then(
            (m) => (back = sc.decode(m.data)),
            () => {},
          ),
        () => back !== undefined,
        'hub → gateway request',
      );
      assert.equal(back, 'gateway:r');
      // Once interest is in place, every request is answered.
      for (let i = 0; i < 10; i++) {
        const m = await within(gw.nc.request(internalSvc, sc.encode(`n${i}`), { timeout: 2000 }), `request ${i}`);
        assert.equal(sc.decode(m.data), `internal:n${i}`);
      }
    });

    it('a queue group spanning both sides gets each message once, from either side', async () => {
      const subject = uniqueSubject('work');
      const seen: string[] = [];
      for (const [who, nc] of [
        ['internal', internal],
        ['gateway', gw.nc],
      ] as const) {
        for (let k = 0; k < 2; k++)
          nc.subscribe(subject, { queue: 'workers', callback: (_e, m) => seen.push(`${who}:${sc.decode(m.data)}`) });
      }
      const plainInternal = collect(internal.subscribe(subject));
      const plainGateway = collect(gw.nc.subscribe(subject));
      await internal.flush();
      await gw.nc.flush();
      await untilFlows(
        () => gw.nc.publish(subject, sc.encode('probe')),
        () => plainInternal.length > 0,
        'gateway → hub plain interest',
      );
      await untilFlows(
        () => internal.publish(subject, sc.encode('probe')),
        () => plainGateway.includes('probe'),
        'hub → gateway plain interest',
      );
      const landed = async (what: string) => {
        await fence(
          (m) => gw.nc.publish(subject, sc.encode(m)),
          [seen, plainInternal, plainGateway],
          `${what} from the gateway`,
        );
        await fence(
          (m) => internal.publish(subject, sc.encode(m)),
          [seen, plainInternal, plainGateway],
          `${what} from the hub`,
        );
      };
      await landed('the probes in flight land');
      seen.length = 0;
      plainInternal.length = 0;
      plainGateway.length = 0;
      for (let i = 0; i < 40; i++) gw.nc.publish(subject, sc.encode(`g${i}`));
      for (let i = 0; i < 40; i++) internal.publish(subject, sc.encode(`i${i}`));
      await gw.nc.flush();
      await internal.flush();
      await until(
        () => seen.length >= 80 && plainInternal.length === 80 && plainGateway.length === 80,
        'eighty deliveries',
        FLOW_MS,
        () => `${seen.length} queued, ${plainInternal.length}/${plainGateway.length} plain`,
      );
      // A second delivery of any of them would come before the markers.
      await landed('every delivery lands');
      const payloads = seen.map((s) => s.split(':')[1]!).sort();
      const expected = [
        ...Array.from({ length: 40 }, (_, i) => `g${i}`),
        ...Array.from({ length: 40 }, (_, i) => `i${i}`),
      ].sort();
      assert.deepEqual(payloads, expected, 'every message reached exactly one member of the group');
    });

    it('a queue group only on the other side gets each message once, through the link', async () => {
      const toHub = uniqueSubject('qup');
      const toGateway = uniqueSubject('qdown');
      const hubGot: string[] = [];
      const gwGot: string[] = [];
      for (let k = 0; k < 2; k++)
        internal.subscribe(toHub, { queue: 'far', callback: (_e, m) => hubGot.push(sc.decode(m.data)) });
      for (let k = 0; k < 2; k++)
        gw.nc.subscribe(toGateway, { queue: 'far', callback: (_e, m) => gwGot.push(sc.decode(m.data)) });
      await internal.flush();
      await gw.nc.flush();
      await untilFlows(
        () => gw.nc.publish(toHub, sc.encode('probe')),
        () => hubGot.length > 0,
        'gateway → hub queue interest',
      );
      await untilFlows(
        () => internal.publish(toGateway, sc.encode('probe')),
        () => gwGot.length > 0,
        'hub → gateway queue interest',
      );
      const landed = async (what: string) => {
        await fence((m) => gw.nc.publish(toHub, sc.encode(m)), hubGot, `${what} at the hub`);
        await fence((m) => internal.publish(toGateway, sc.encode(m)), gwGot, `${what} at the gateway`);
      };
      await landed('the probes in flight land');
      hubGot.length = 0;
      gwGot.length = 0;
      for (let i = 0; i < 20; i++) gw.nc.publish(toHub, sc.encode(`u${i}`));
      for (let i = 0; i < 20; i++) internal.publish(toGateway, sc.encode(`d${i}`));
      await gw.nc.flush();
      await internal.flush();
      await until(() => hubGot.length >= 20 && gwGot.length >= 20, 'twenty each way', FLOW_MS);
      // A second delivery of any of them would come before the markers.
      await landed('every delivery lands');
      assert.deepEqual([...hubGot].sort(), Array.from({ length: 20 }, (_, i) => `u${i}`).sort());
      assert.deepEqual([...gwGot].sort(), Array.from({ length: 20 }, (_, i) => `d${i}`).sort());
    });

    it('nothing crosses that nobody on the other side wants, counted on the hub and the uplink', async () => {
      // Lanes that stay wanted, one each way: a marker sent on one after a burst arrives behind whatever of the
      // burst its side sent over the link, so what has not crossed by then was not sent.
      const laneUp = uniqueSubject('lane.up');
      const upGot = collect(internal.subscribe(laneUp));
      const laneDown = uniqueSubject('lane.down');
      const downGot = collect(gw.nc.subscribe(laneDown));
      await internal.flush();
      await gw.nc.flush();
      await untilFlows(
        () => gw.nc.publish(laneUp, sc.encode('probe')),
        () => upGot.length > 0,
        'gateway → hub lane',
      );
      await untilFlows(
        () => internal.publish(laneDown, sc.encode('probe')),
        () => downGot.length > 0,
        'hub → gateway lane',
      );
      const upFence = (what: string) => fence((m) => gw.nc.publish(laneUp, sc.encode(m)), upGot, what);
      const downFence = (what: string) => fence((m) => internal.publish(laneDown, sc.encode(m)), downGot, what);

      // Up: no internal interest at all, then interest that goes away.
      const nobody = uniqueSubject('nobody');
      const gone = uniqueSubject('gone');
      const got = collect(internal.subscribe(gone, { max: 1 }));
      await internal.flush();
      await untilFlows(
        () => gw.nc.publish(gone, sc.encode('probe')),
        () => got.length > 0,
        'gateway → hub interest',
      );
      // The auto-unsubscribe reaches the uplink as LS-.
      await until(() => ![...gw.uplink.subs.keys()].includes(gone), 'LS- for the unsubscribed subject', FLOW_MS);
      await upFence('the probes in flight land');
      const before = (await hub.link())!;
      const outBefore = gw.uplink.counters.outMsgs;
      for (let i = 0; i < 20; i++) {
        gw.nc.publish(nobody, sc.encode('unwanted'));
        gw.nc.publish(gone, sc.encode('unwanted'));
      }
      await gw.nc.flush();
      await upFence('the unwanted publishes are behind us');
      assert.equal(
        (await hub.link())!.in_msgs,
        before.in_msgs + 1,
        'the hub received nothing from the link but the marker',
      );
      assert.equal(gw.uplink.counters.outMsgs, outBefore + 1, 'the uplink sent nothing but the marker');
      assert.equal(gw.uplink.counters.bufferedMsgs, 0, 'and holds nothing');

      // Down: nobody on the gateway side wants it, so the hub sends nothing over the link.
      const downNobody = uniqueSubject('down.nobody');
      await downFence('the lane probes in flight land');
      const inBefore = gw.uplink.counters.inMsgs;
      const hubOut = (await hub.link())!.out_msgs;
      for (let i = 0; i < 20; i++) internal.publish(downNobody, sc.encode('unwanted'));
      await internal.flush();
      await downFence('the unwanted publishes are behind us');
      assert.equal(gw.uplink.counters.inMsgs, inBefore + 1, 'nothing came down but the marker');
      assert.equal((await hub.link())!.out_msgs, hubOut + 1);
    });

    it('the hub restarted under a running uplink: every publish accepted while it was down arrives after it returns, in order', async (t: TestContext) => {
      t.after(() => hub.ensureRunning());
      const subject = uniqueSubject('outage');
      const got = collect(internal.subscribe(subject));
      await internal.flush();
      await untilFlows(
        () => gw.nc.publish(subject, sc.encode('probe')),
        () => got.length > 0,
        'gateway → hub interest',
      );
      await fence((m) => gw.nc.publish(subject, sc.encode(m)), got, 'the probes in flight land');
      got.length = 0;
      const events: string[] = [];
      const off = gw.uplink.onStateChange((e) => events.push(e.type));
      const reconnects = gw.uplink.counters.reconnects;

      await hub.stop();
      await until(() => !gw.uplink.up, 'the uplink sees the hub gone', FLOW_MS);
      const N = 200;
      for (let i = 0; i < N; i++) gw.nc.publish(subject, sc.encode(`m${i}`));
      // Accepted: the gateway client's flush returns while the hub is still down.
      await within(gw.nc.flush(), 'publishes accepted during the outage');
      assert.equal(gw.uplink.counters.bufferedMsgs, N);

      await hub.start();
      await within(gw.uplink.waitUntilUp(FLOW_MS), 'the uplink back up', FLOW_MS);
      await until(
        () => got.length >= N,
        'every held message at the internal subscriber',
        FLOW_MS,
        () => `${got.length} of ${N}`,
      );
      // A second copy of any of them would come before a marker sent after them.
      await fence((m) => gw.nc.publish(subject, sc.encode(m)), got, 'every held message lands');
      assert.deepEqual(
        got,
        Array.from({ length: N }, (_, i) => `m${i}`),
        'all of them, once, in order',
      );
      assert.deepEqual(events, ['down', 'up']);
      assert.equal(gw.uplink.counters.reconnects, reconnects + 1);
      assert.equal(gw.uplink.counters.droppedNoInterest, 0);
      off();
    });

    it('a buffer too small for the outage pauses the publisher (its flush waits) and nothing is lost', async (t: TestContext) => {
      t.after(() => hub.ensureRunning());
      const small = await startGateway(`nats://${HOST}:${hub.leafPort}`, { bufferBytes: 16 * 1024 });
      t.after(() => small.close());
      await within(small.uplink.waitUntilUp(FLOW_MS), 'second uplink up', FLOW_MS);
      const subject = uniqueSubject('paused');
      const got = collect(internal.subscribe(subject));
      await internal.flush();
      await untilFlows(
        () => small.nc.publish(subject, sc.encode('probe')),
        () => got.length > 0,
        'gateway → hub interest',
      );
      await fence((m) => small.nc.publish(subject, sc.encode(m)), got, 'the probes in flight land');
      got.length = 0;

      await hub.stop();
      await until(() => !small.uplink.up, 'the uplink sees the hub gone', FLOW_MS);
      const N = 300;
      const pad = 'p'.repeat(1000);
      for (let i = 0; i < N; i++) small.nc.publish(subject, sc.encode(`${String(i).padStart(4, '0')}${pad}`));
      let flushed = false;
      const flush = small.nc.flush().then(() => (flushed = true));
      await until(() => small.uplink.counters.pausedPublishers === 1, 'the publisher paused', FLOW_MS);
      // The point: its flush stays pending for a while (nothing says "it will never come" sooner).
      await quietFor(300);
      assert.equal(flushed, false, "the publisher's flush waits while the buffer is full");
      assert.ok(small.uplink.counters.bufferedMsgs < N, 'reading stopped before the whole burst');

      await hub.start();
      await within(flush, 'the flush completes once the buffer drained', FLOW_MS);
      await until(
        () => got.length >= N,
        'every message upstream',
        FLOW_MS,
        () => `${got.length} of ${N}`,
      );
      // A second copy of any of them would come before a marker sent after them.
      await fence((m) => small.nc.publish(subject, sc.encode(m)), got, 'every message lands');
      assert.deepEqual(
        got.map((p) => Number(p.slice(0, 4))),
        Array.from({ length: N }, (_, i) => i),
        'all of them, once, in order',
      );
      assert.equal(small.uplink.counters.pausedPublishers, 0);
    });
  });
}
