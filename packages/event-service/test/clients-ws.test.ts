// The browser client, nats.ws, over the WebSocket listener: the same NATS byte stream in binary frames, sharing
// subjects with TCP clients. Run against our event service and nats-server (websocket { no_tls: true }).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueSubject } from '@event-broker/test-support/flow';
import { until, within } from '@event-broker/test-support/wait';
import { targets, type RunningTarget } from './helpers/targets.js';
import { connections, natsV2, natsWs, record, requestFailure, type Msg } from './helpers/clients.js';

for (const target of targets()) {
  describe(`${target.name} over WebSocket`, () => {
    let server: RunningTarget;
    // Registered first so their `after` (closing the clients) runs before the server stops.
    const ws = connections(natsWs, () => `ws://127.0.0.1:${server.wsPort}`);
    const tcp = connections(natsV2, () => server.url);
    before(async () => {
      server = await target.start({ websocket: true });
      assert.ok(server.wsPort, 'the target reports its WebSocket port');
    });
    after(async () => {
      await server?.stop();
    });

    it('sends INFO over WebSocket with headers on and a max_payload', async () => {
      const c = await ws();
      assert.equal(c.info?.headers, true);
      assert.equal(c.info?.proto, 1);
      assert.ok((c.info?.max_payload ?? 0) > 0);
    });

    it('delivers publishes between two WebSocket clients, in order', async () => {
      const [pub, subc] = await Promise.all([ws(), ws()]);
      const subject = uniqueSubject('ws-pubsub');
      const r = record(subc, subject);
      await subc.flush();
      for (let i = 0; i < 500; i++) pub.publish(subject, String(i));
      await pub.flush();
      await until(
        () => r.msgs.length >= 500,
        '500 messages over ws',
        undefined,
        () => `${r.msgs.length} arrived`,
      );
      assert.deepEqual(
        r.strings(),
        Array.from({ length: 500 }, (_, i) => String(i)),
      );
    });

    it('answers a WebSocket request from a WebSocket responder', async () => {
      const [requester, responder] = await Promise.all([ws(), ws()]);
      const subject = uniqueSubject('ws-svc');
      responder.subscribe(subject, { callback: (err, m) => void (err || m.respond(`re:${m.string()}`)) });
      await responder.flush();
      const reply = await within(requester.request(subject, 'ping', { timeout: 2000 }), 'ws reply');
      assert.equal(reply.string(), 're:ping');
    });

    it('rejects a WebSocket request with no responders (503)', async () => {
      const c = await ws();
      const err = await requestFailure(c, uniqueSubject('ws-nobody'), 'no-responders rejection over ws');
      assert.ok(natsWs.isNoResponders(err), `expected a no-responders error, got ${String(err)}`);
    });

    it('carries headers with several values and their case over WebSocket', async () => {
      const [pub, subc] = await Promise.all([ws(), ws()]);
      const subject = uniqueSubject('ws-headers');
      const r = record(subc, subject);
      await subc.flush();
      const h = natsWs.headers();
      h.append('X-Multi', 'a');
      h.append('X-Multi', 'b');
      h.set('X-Mixed-Case', 'Value');
      pub.publish(subject, 'body', { headers: h });
      await until(() => r.msgs.length === 1, 'the message with headers');
      const m = r.msgs[0]!;
      assert.equal(m.string(), 'body');
      assert.deepEqual(m.headers?.values('X-Multi'), ['a', 'b']);
      assert.deepEqual(m.headers?.keys().sort(), ['X-Mixed-Case', 'X-Multi']);
    });

    it('a WebSocket client and a TCP client exchange messages, headers and requests both ways', async () => {
      const [w, t] = await Promise.all([ws(), tcp()]);
      const toTcp = uniqueSubject('to-tcp');
      const toWs = uniqueSubject('to-ws');
      const atTcp = record(t, toTcp);
      const atWs = record(w, `${toWs}.>`);
      await Promise.all([w.flush(), t.flush()]);

      const wh = natsWs.headers();
      wh.set('X-From', 'ws');
      w.publish(toTcp, 'from ws', { headers: wh });
      const th = natsV2.headers();
      th.set('X-From', 'tcp');
      t.publish(`${toWs}.deep.subject`, 'from tcp', { headers: th });
      await until(() => atTcp.msgs.length === 1 && atWs.msgs.length === 1, 'one message each way');
      const [fromWs, fromTcp] = [atTcp.msgs[0], atWs.msgs[0]] as [Msg, Msg];
      assert.equal(fromWs.string(), 'from ws');
      assert.equal(fromWs.headers?.get('X-From'), 'ws');
      assert.equal(fromTcp.string(), 'from tcp');
      assert.equal(fromTcp.subject, `${toWs}.deep.subject`);
      assert.equal(fromTcp.headers?.get('X-From'), 'tcp');

      const svcTcp = uniqueSubject('svc-tcp');
      const svcWs = uniqueSubject('svc-ws');
      t.subscribe(svcTcp, { callback: (err, m) => void (err || m.respond(`tcp:${m.string()}`)) });
      w.subscribe(svcWs, { callback: (err, m) => void (err || m.respond(`ws:${m.string()}`)) });
      await Promise.all([w.flush(), t.flush()]);
      const [r1, r2] = await within(
        Promise.all([w.request(svcTcp, 'q1', { timeout: 2000 }), t.request(svcWs, 'q2', { timeout: 2000 })]),
        'cross-transport replies',
      );
      assert.equal(r1.string(), 'tcp:q1');
      assert.equal(r2.string(), 'ws:q2');
    });

    it('a large message crosses from TCP to WebSocket intact', async () => {
      const [w, t] = await Promise.all([ws(), tcp()]);
      const subject = uniqueSubject('ws-big');
      const r = record(w, subject);
      await w.flush();
      const payload = Buffer.alloc(512 * 1024);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
      t.publish(subject, payload);
      await until(() => r.msgs.length === 1, 'the 512 KiB message over ws');
      assert.equal(Buffer.compare(Buffer.from(r.msgs[0]!.data), payload), 0);
    });
  });
}
