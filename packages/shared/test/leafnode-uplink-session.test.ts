// The uplink's live session against a raw-protocol hub (helpers/raw-hub.ts), checked on the wire line by line: the
// leaf CONNECT, its loop subject and interest burst, up only at the hub's PONG, interest changes as LS+/LS-, and
// messages both ways (only what the hub wants goes up, once; LMSG/HMSG down to local subscribers, queue names kept;
// request/reply across the link). Outages are leafnode-uplink-outage.test.ts's, failures leafnode-uplink-faults.test.ts's;
// real hubs (our listener, nats-server 2.9) are event-service/test/uplink.test.ts's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Uplink } from '../src/index.js';
import { quietFor, until, WAIT_MS, within } from '@event-broker/test-support/wait';
import { LIMITS, logger, natsClient, sc, startFront, startHub, startUplink } from './helpers/raw-hub.js';

describe('uplink against a raw hub', () => {
  it('sends a 2.9 leaf CONNECT (no lang), its loop subject, the local interest with queue weights and a PING; up only at the PONG', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = new Uplink(front.broker, {
      urls: [`nats://127.0.0.1:${hub.port}`],
      limits: LIMITS,
      logger,
      name: 'gw-test',
      cluster: 'edge',
      version: '1.2.3',
    });
    t.after(() => up.close());
    const nc = await natsClient(t, front);
    nc.subscribe('a.b');
    nc.subscribe('q.x', { queue: 'g' });
    nc.subscribe('q.x', { queue: 'g' });
    await nc.flush();
    up.start();
    const peer = await hub.peer(1);
    const c = await peer.expect(/^CONNECT (\{.*?\})\r\n/, 'CONNECT');
    const connect = JSON.parse(c[1]!) as Record<string, unknown>;
    assert.equal(connect.lang, undefined, 'a leaf never sends lang');
    assert.equal(connect.name, 'gw-test');
    assert.equal(connect.version, '1.2.3');
    assert.equal(connect.cluster, 'edge');
    assert.equal(connect.headers, true);
    assert.equal(connect.tls_required, false);
    assert.match(String(connect.server_id), /^N[A-Z2-7]{55}$/);
    const b = await peer.expect(/^((?:LS\+ [^\r]*\r\n)*)PING\r\n/, 'interest burst then PING');
    const burst = b[1]!.split('\r\n').filter(Boolean);
    assert.equal(burst[0], `LS+ ${up.loopSubject}`);
    assert.match(up.loopSubject, /^\$LDS\.\S{22}$/);
    assert.deepEqual(burst.slice(1).sort(), ['LS+ a.b', 'LS+ q.x g 2']);
    // The point: it stays in the handshake for a while without the hub's PONG.
    await quietFor(100);
    assert.equal(up.up, false, 'not up before the PONG');
    assert.equal(up.state, 'handshake');
    peer.send('PONG\r\n');
    await within(up.waitUntilUp(WAIT_MS), 'up after the PONG');

    // Interest changes follow: a new subscription, a queue member leaving (new weight), the last one leaving.
    const s = nc.subscribe('late.sub');
    await nc.flush();
    await peer.expect(/^LS\+ late\.sub\r\n/, 'LS+ for a new subscription');
    s.unsubscribe();
    await nc.flush();
    await peer.expect(/^LS- late\.sub\r\n/, 'LS- once nobody holds it');
    // The hub's PING is answered.
    peer.send('PING\r\n');
    await peer.expect(/^PONG\r\n/, 'PONG to the hub');
  });

  it("carries messages both ways: only what the hub wants goes up, once; the hub's LMSG and HMSG reach local subscribers, queue names respected", async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub);
    const nc = await natsClient(t, front);
    const plain: string[] = [];
    const queued: string[] = [];
    nc.subscribe('down.x', {
      callback: (_e, m) => plain.push(`${sc.decode(m.data)}${m.headers ? `+${m.headers.get('X-H')}` : ''}`),
    });
    nc.subscribe('down.x', { queue: 'g', callback: (_e, m) => queued.push(sc.decode(m.data)) });
    await nc.flush();
    const peer = await hub.peer(1);
    await peer.handshake('LS+ up.x\r\nLS+ up.>\r\n');
    await within(up.waitUntilUp(WAIT_MS), 'up');

    nc.publish('up.x', sc.encode('hello'));
    nc.publish('up.y', sc.encode('wild'));
    nc.publish('nobody.wants', sc.encode('this'));
    await nc.flush();
    // up.x matches two hub interests (up.x and up.>) and still crosses once.
    // (The local subscriptions' LS+ may come first, depending on when the client subscribed.)
    await peer.expect(/^(?:LS\+ [^\r]*\r\n)*LMSG up\.x 5\r\nhello\r\n/, 'up.x once');
    await peer.expect(/^LMSG up\.y 4\r\nwild\r\n/, 'up.y through up.>');
    peer.send('PING\r\n');
    await peer.expect(/^PONG\r\n/, 'nothing else before the PONG');
    assert.equal(up.counters.outMsgs, 2);

    // No queue names: plain subscribers only. A queue named: plain ones and one member of that group.
    peer.send('LMSG down.x 5\r\nplain\r\n');
    peer.send('LMSG down.x | g 6\r\nqueued\r\n');
    peer.send('HMSG down.x 20 23\r\nNATS/1.0\r\nX-H: v\r\n\r\nhdr\r\n');
    await until(
      () => plain.length === 3 && queued.length === 1,
      'three plain deliveries, one queued',
      WAIT_MS,
      () => `${plain} / ${queued}`,
    );
    assert.deepEqual(plain, ['plain', 'queued', 'hdr+v']);
    assert.deepEqual(queued, ['queued']);
    assert.equal(up.counters.inMsgs, 3);

    // Request/reply from the hub: the reply subject crosses, the local answer goes up on the hub's interest in it.
    nc.subscribe('svc.local', { callback: (_e, m) => m.respond(sc.encode(`re:${sc.decode(m.data)}`)) });
    await nc.flush();
    await peer.expect(/^LS\+ svc\.local\r\n/, 'the responder announced');
    peer.send('LS+ _INBOX.hub.1\r\nLMSG svc.local _INBOX.hub.1 1\r\nq\r\n');
    await peer.expect(/^LMSG _INBOX\.hub\.1 4\r\nre:q\r\n/, 'the reply goes up');
  });
});
