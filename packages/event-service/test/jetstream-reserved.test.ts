// The JetStream store's subjects are the service's own (handlers/jetstream/reserved-subjects.ts): its `nats` client
// reaches the hub through this broker and its leaf remote, so every other connection is refused them. Against a real
// nats-server hub with JetStream and the service as its leaf, with a real node:http sink: a public client, a raw
// leaf on the service's leafnode port and an embedded user connection each try to read the store's traffic, answer
// its requests, write into its stream and call the hub's JetStream API on its streams; each is refused with
// nats-server's texts or sees nothing, while the store appends, delivers and answers. A user's own stream through
// the service still works. Last, the reserved set itself as a property.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AckPolicy, StringCodec, type JsMsg, type Msg, type NatsConnection } from 'nats';
import WebSocket from 'ws';
import {
  DEFAULT_RESPONSE_PERMISSION,
  PermissionRules,
  Permissions,
  ReservedSubjects,
  subjectMatches,
  withReserved,
} from '@event-broker/shared';
import { startReceiver } from '@event-broker/test-support/http';
import { natsServerSkip, startNatsLeaf } from '@event-broker/test-support/nats-server';
import { untilFlows } from '@event-broker/test-support/flow';
import { connectRaw, exchange, type RawConn } from '@event-broker/test-support/raw';
import { until, within } from '@event-broker/test-support/wait';
import { STREAM_NAME } from '../src/handlers/jetstream/store-config.js';
import { streamLayout } from '../src/handlers/jetstream/layout.js';
import { storeReservedSubjects } from '../src/handlers/jetstream/reserved-subjects.js';
import type { EventService } from '../src/index.js';
import { HOST, LINK_MS, client, startHub, startLeafService, hubStoreDir } from './helpers/leaf-hub.js';

const skip = natsServerSkip();
const sc = StringCodec();
const layout = streamLayout();
const RESERVED = storeReservedSubjects(layout.stream);
const isReserved = (subject: string) => RESERVED.some((p) => subjectMatches(p, subject));
const ev = (id: string) => JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'scanJobCreated' });
const pubErr = (subject: string) => `-ERR 'Permissions Violation for Publish to ${JSON.stringify(subject)}'`;
const subErr = (subject: string) => `-ERR 'Permissions Violation for Subscription to ${JSON.stringify(subject)}'`;

/** Every message a `>` subscription gets: subject and payload. */
function spy(sub: AsyncIterable<Msg>): { subject: string; data: string }[] {
  const got: { subject: string; data: string }[] = [];
  void (async () => {
    for await (const m of sub) got.push({ subject: m.subject, data: sc.decode(m.data) });
  })();
  return got;
}

/** What a spy got of the store's: any reserved subject, or an event id's body outside the user's own subjects. */
function leaks(got: readonly { subject: string; data: string }[], ids: readonly string[]): string[] {
  return got
    .filter(
      (m) =>
        isReserved(m.subject) ||
        (ids.some((id) => m.data.includes(id)) && !m.subject.startsWith('events.') && !m.subject.startsWith('_INBOX.')),
    )
    .map((m) => m.subject);
}

/** The hub's view of the stream and of the sink's consumer (a client of the hub itself). */
async function hubView(hubNc: NatsConnection) {
  const jsm = await hubNc.jetstreamManager();
  const info = await jsm.streams.info(layout.stream);
  const consumer = await jsm.consumers.info(layout.stream, layout.durable('event_feed'));
  return { messages: info.state.messages, acked: consumer.ack_floor.stream_seq, pending: consumer.num_ack_pending };
}

async function setUp(t: TestContext) {
  const hub = await startHub(t, { extra: [`jetstream { store_dir: ${JSON.stringify(hubStoreDir(t))} }`] });
  const sink = await startReceiver(t);
  const svc = await startLeafService(t, [{ urls: [hub.leafUrl] }], {
    store: { backend: 'jetstream', request_timeout: LINK_MS },
    handlers: { event_feed: sink.url } as never,
    leafnodes: { host: HOST, port: 0 },
    websocket: { host: HOST, port: 0, no_tls: true },
  });
  const hubNc = await client(t, hub.clientPort);
  return { hub, sink, svc, hubNc };
}

/**
 * A raw leaf on the service's leafnode port, admitted, with interest in everything (`>`) and in the store's subjects;
 * `greeting` is what the service sent it up to its PONG (its interest burst included).
 */
async function rawLeaf(t: TestContext, svc: EventService): Promise<{ leaf: RawConn; greeting: string }> {
  const leaf = await connectRaw({ host: HOST, port: svc.leafnodePort! }, { timeoutMs: LINK_MS });
  t.after(() => leaf.close());
  leaf.send('CONNECT {"version":"2.9.10","server_id":"NRAWLEAF","name":"raw-leaf","headers":true}\r\n');
  let greeting = (await leaf.expect(/LS\+ \$LDS\.\S+\r\n/)).input;
  leaf.send('LS+ >\r\nLS+ eventstore.>\r\nLS+ $JS.API.>\r\nPING\r\n');
  const m = await leaf.expect(/PONG\r\n/);
  greeting += m.input.slice(0, m.index);
  return { leaf, greeting };
}

/** CONNECT, `lines` and PING over the WebSocket port; the lines answered before the PONG. */
async function overWebSocket(t: TestContext, port: number, lines: readonly string[]): Promise<string[]> {
  const ws = new WebSocket(`ws://${HOST}:${port}`);
  t.after(() => ws.terminate());
  let got = '';
  ws.on('message', (d: Buffer) => (got += d.toString('latin1')));
  await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 'ws open');
  await until(() => got.includes('INFO '), 'the INFO over WebSocket');
  ws.send(Buffer.from(`CONNECT {"verbose":false}\r\n${lines.map((l) => `${l}\r\n`).join('')}PING\r\n`));
  await until(() => got.includes('PONG\r\n'), 'the PONG over WebSocket');
  return got
    .slice(got.indexOf('\r\n') + 2, got.indexOf('PONG\r\n'))
    .split('\r\n')
    .filter((l) => l !== '');
}

test('the store’s subjects are refused to everyone but the service, and the store works on', { skip }, async (t) => {
  const { sink, svc, hubNc } = await setUp(t);
  // Its own requests' replies under a prefix of its own, so the forger below leaves them alone.
  const attacker = await client(t, svc.port, { inboxPrefix: '_ATTACKER' });
  const target = { host: HOST, port: svc.port };
  const ids: string[] = [];
  const append = async (id: string) => {
    ids.push(id);
    const answer = JSON.parse((await svc.request('events.scanJobCreated', ev(id), { timeoutMs: LINK_MS })).string());
    assert.deepEqual(answer, { id });
  };

  // Listeners of everything, before any event: a public client, the embedded handle, a raw leaf.
  const pub = spy(attacker.subscribe('>'));
  const inproc: { subject: string; data: string }[] = [];
  svc.subscribe('>', { callback: (m) => inproc.push({ subject: m.subject, data: m.string() }) });
  const { leaf, greeting } = await rawLeaf(t, svc);
  // (b) An attacker answering whatever of the store's it sees with a forged PubAck.
  let forged = 0;
  void (async () => {
    for await (const m of attacker.subscribe('>')) {
      const theirs = m.subject.startsWith('eventstore.') || m.subject.startsWith('$JS.');
      if (m.reply !== undefined && !m.reply.startsWith('_ATTACKER.') && theirs) {
        forged++;
        m.respond(sc.encode(JSON.stringify({ stream: layout.stream, seq: 999 })));
      }
    }
  })();
  await attacker.flush();

  await t.test('(a) a public client may not subscribe to the store’s subjects', async () => {
    for (const subject of [
      'eventstore.>',
      layout.sinkFilter('event_feed'),
      `$JS.API.CONSUMER.MSG.NEXT.${layout.stream}.${layout.durable('event_feed')}`,
    ]) {
      const lines = await exchange(target, {}, [`SUB ${subject} 1`]);
      assert.deepEqual(lines, [subErr(subject)], subject);
    }
    // The official client: the subscription ends with the server's text.
    const sub = attacker.subscribe('eventstore.>');
    await assert.rejects(
      within(
        (async () => {
          for await (const _m of sub) assert.fail('a message on eventstore.>');
        })(),
        'the refused subscription ends',
      ),
      /Permissions Violation for Subscription to "eventstore\.>"/,
    );
  });

  await t.test('(b, c, d) a public client may not publish into the stream, its inboxes or its API', async () => {
    for (const subject of [
      layout.event('forged', ['event_feed']),
      'eventstore.inbox.guess.reply',
      `$JS.API.STREAM.DELETE.${layout.stream}`,
      `$JS.API.STREAM.MSG.GET.${layout.deadStream}`,
      `$JS.HUB.API.STREAM.PURGE.${layout.stream}`,
      `$JS.ACK.${layout.stream}.${layout.durable('event_feed')}.1.1.1.1.0`,
    ]) {
      const lines = await exchange(target, {}, [`PUB ${subject} 2`, 'hi']);
      assert.deepEqual(lines, [pubErr(subject)], subject);
    }
    // (d) The official client's JetStream manager on the store's streams.
    const jsm = await attacker.jetstreamManager();
    await assert.rejects(
      jsm.streams.info(layout.stream),
      /Permissions Violation for Publish to "\$JS\.API\.STREAM\.INFO\.EVENTS"/,
    );
    await assert.rejects(
      jsm.streams.delete(layout.deadStream),
      /Permissions Violation for Publish to "\$JS\.API\.STREAM\.DELETE\.EVENTS_DEAD"/,
    );
    await assert.rejects(
      jsm.consumers.info(layout.stream, layout.durable('event_feed')),
      /Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.INFO\.EVENTS\.EVENTS_event_feed"/,
    );
  });

  await t.test(
    'a public client may not name them as a reply (the intake would answer there in the service’s name)',
    async () => {
      const purge = `$JS.API.STREAM.PURGE.${layout.stream}`;
      const body = ev('purge-by-reply');
      for (const reply of [purge, layout.event('by-reply', ['event_feed']), 'eventstore.inbox.guess.reply']) {
        const lines = await exchange(target, {}, [
          `PUB events.scanJobCreated ${reply} ${Buffer.byteLength(body)}`,
          body,
        ]);
        assert.deepEqual(lines, [pubErr(reply)], reply);
      }
      assert.throws(() => svc.publish('events.scanJobCreated', body, { reply: purge }), {
        code: 'PERMISSIONS_VIOLATION',
        message: `Permissions Violation for Publish to "${purge}"`,
      });
    },
  );

  await t.test('a WebSocket client is refused them as a TCP one is', async () => {
    const deleteApi = `$JS.API.STREAM.DELETE.${layout.stream}`;
    const lines = await overWebSocket(t, svc.websocketPort!, ['SUB eventstore.> 1', `PUB ${deleteApi} 0`, '']);
    assert.deepEqual(lines, [subErr('eventstore.>'), pubErr(deleteApi)]);
  });

  await t.test('an embedded user connection is refused them too', () => {
    assert.throws(() => svc.subscribe('eventstore.>'), {
      code: 'PERMISSIONS_VIOLATION',
      message: 'Permissions Violation for Subscription to "eventstore.>"',
    });
    assert.throws(() => svc.publish(`$JS.API.STREAM.DELETE.${layout.stream}`), {
      code: 'PERMISSIONS_VIOLATION',
      message: `Permissions Violation for Publish to "$JS.API.STREAM.DELETE.${layout.stream}"`,
    });
    assert.throws(() => svc.publish(layout.event('forged-inproc', ['event_feed']), ev('forged-inproc')), {
      code: 'PERMISSIONS_VIOLATION',
    });
  });

  await t.test('a leaf on the leafnode port cannot inject, and is not shown the store’s interest', async () => {
    const body = ev('forged-leaf');
    leaf.send(`LMSG ${layout.event('forged-leaf', ['event_feed'])} ${Buffer.byteLength(body)}\r\n${body}\r\n`);
    leaf.send(`LMSG $JS.API.STREAM.DELETE.${layout.stream} _INBOX.leaf 0\r\n\r\n`);
    // A valid event whose reply is the stream's purge: the intake's answer would purge it.
    const purging = ev('purge-by-leaf');
    leaf.send(
      `LMSG events.scanJobCreated $JS.API.STREAM.PURGE.${layout.stream} ${Buffer.byteLength(purging)}\r\n${purging}\r\n`,
    );
    leaf.send('PING\r\n');
    await leaf.expect(/PONG\r\n/);
    // Not an -ERR, not a close: dropped (one client behind a gateway must not cut the others).
    assert.doesNotMatch(leaf.buffered, /-ERR/);
    assert.equal(leaf.closed, false);
    // The store's inbox interest is never announced to the leaf (it was there before the leaf came).
    assert.doesNotMatch(greeting, /LS\+ eventstore\./);
    assert.match(greeting, /LS\+ events\.>/, 'the intake’s interest is announced');
    // Neither reached the hub's stream: an event appended after them, on the same uplink, is the only one.
    await append('after-leaf');
    const jsm = await hubNc.jetstreamManager();
    assert.equal((await jsm.streams.info(layout.stream)).state.messages, 1);
  });

  // A nats-server leaf on the leafnode port, its client listening to everything and writing into the stream.
  const natsLeaf = await startNatsLeaf(svc.leafnodePort!);
  t.after(() => natsLeaf.stop());
  const leafNc = await client(t, natsLeaf.clientPort);
  const viaLeaf = spy(leafNc.subscribe('>'));
  await leafNc.flush();
  await untilFlows(
    () => attacker.publish('probe.leaf', sc.encode('probe')),
    () => viaLeaf.some((m) => m.subject === 'probe.leaf'),
    'the nats-server leaf’s interest crosses',
    LINK_MS,
  );
  leafNc.publish(layout.event('forged-natsleaf', ['event_feed']), sc.encode(ev('forged-natsleaf')));
  await leafNc.flush();

  await t.test('the store appends, delivers and answers meanwhile, and nobody saw its traffic', async () => {
    for (let i = 0; i < 5; i++) await append(`r${i}`);
    await until(() => sink.got.length >= ids.length, 'the sink gets every event', LINK_MS);
    assert.deepEqual(sink.got.map((d) => (JSON.parse(d.body) as { id: string }).id).sort(), [...ids].sort());
    // Every event is in the hub's stream once (none forged, none lost, the stream not deleted) and acked.
    await until(
      async () => {
        const v = await hubView(hubNc);
        return v.messages === ids.length && v.acked === ids.length && v.pending === 0;
      },
      'the hub has every event, acked after the sink’s 2xx',
      LINK_MS,
    );
    const jsm = await hubNc.jetstreamManager();
    const last = await jsm.streams.getMessage(layout.stream, { last_by_subj: layout.event('r4', ['event_feed']) });
    assert.equal(last.seq, ids.indexOf('r4') + 1, 'r4 at its true sequence, whatever was forged');
    assert.equal((await jsm.streams.info(layout.deadStream)).config.name, layout.deadStream);
    // A fence through each listener: everything routed to it before has arrived.
    const marker = `fence-${process.pid}`;
    attacker.publish('probe.fence', sc.encode(marker));
    await until(
      () =>
        pub.some((m) => m.data === marker) &&
        inproc.some((m) => m.data === marker) &&
        viaLeaf.some((m) => m.data === marker) &&
        leaf.buffered.includes(`LMSG probe.fence ${marker.length}\r\n${marker}`),
      'the fence reaches every listener',
      LINK_MS,
    );
    // The listeners are live (they got the user's own traffic) and got nothing of the store's.
    assert.ok(pub.some((m) => m.subject === 'events.scanJobCreated'));
    assert.deepEqual(leaks(pub, ids), []);
    assert.deepEqual(leaks(inproc, ids), []);
    assert.ok(viaLeaf.some((m) => m.subject === 'events.scanJobCreated'));
    // (Its own client's forged publish it sees itself, on the leaf: that never left it for the service.)
    assert.deepEqual(
      leaks(
        viaLeaf.filter((m) => !m.data.includes('forged-natsleaf')),
        ids,
      ),
      [],
    );
    const lmsgs = [...leaf.buffered.matchAll(/LMSG (\S+)/g)].map((m) => m[1]!);
    assert.ok(lmsgs.includes('events.scanJobCreated'));
    assert.deepEqual(lmsgs.filter(isReserved), []);
    assert.equal(forged, 0, 'the attacker saw no request of the store to answer');
    // The feed reads the stream: sequences 1..5, the true ones.
    const feed = JSON.parse(
      (await svc.request('$EVENTS.FEED.QUERY', JSON.stringify({ limit: 10 }), { timeoutMs: LINK_MS })).string(),
    ) as { events: { seq: number; event: { id: string } }[] };
    assert.deepEqual(
      feed.events.map((e) => [e.event.id, e.seq]),
      ids.map((id, i) => [id, i + 1]),
    );
  });

  await t.test('a user’s own stream through the service still works', async () => {
    const jsm = await attacker.jetstreamManager();
    await jsm.streams.add({ name: 'MINE', subjects: ['mine.>'] });
    const ack = await attacker.jetstream().publish('mine.a', sc.encode('mine'));
    assert.deepEqual([ack.stream, ack.seq], ['MINE', 1]);
    await jsm.consumers.add('MINE', { durable_name: 'mine', ack_policy: AckPolicy.Explicit });
    // (The older pull API: the service's INFO announces its own version, below nats.js's 2.9.4 for `consumers`.)
    let m: JsMsg | undefined;
    for await (const got of attacker.jetstream().fetch('MINE', 'mine', { batch: 1, expires: LINK_MS })) m = got;
    assert.equal(m === undefined ? undefined : sc.decode(m.data), 'mine');
    await m!.ackAck();
    assert.equal((await jsm.consumers.info('MINE', 'mine')).ack_floor.stream_seq, 1);
    await jsm.streams.delete('MINE');
  });
});

test('reserved: every subject under a reserved pattern is refused, every other one allowed (property)', () => {
  const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
  const stream = fc.stringMatching(STREAM_NAME.test);
  const num = fc.nat({ max: 99 }).map(String);
  fc.assert(
    fc.property(stream, fc.array(token, { minLength: 1, maxLength: 4 }), token, num, (s, rest, other, n) => {
      const r = new ReservedSubjects(storeReservedSubjects(s));
      const dead = `${s}_DEAD`;
      const tail = rest.join('.');
      const reserved = [
        `eventstore.${tail}`,
        `$JS.API.STREAM.INFO.${s}`,
        `$JS.${other}.API.STREAM.DELETE.${dead}`,
        `$JS.API.STREAM.MSG.GET.${s}`,
        `$JS.API.DIRECT.GET.${s}.${tail}`,
        `$JS.API.CONSUMER.CREATE.${s}.${tail}`,
        `$JS.API.CONSUMER.MSG.NEXT.${dead}.${other}`,
        `$JS.${other}.API.CONSUMER.DURABLE.CREATE.${s}.${other}`,
        `$JS.ACK.${s}.${other}.${n}.${n}.${n}.${n}.0`,
        `$JS.FC.${dead}.${tail}`,
        '$JS.EVENT.ADVISORY.API',
      ];
      for (const subject of reserved) assert.ok(r.has(subject), subject);
      // Another stream's, the store's name in another position, and the user's own subjects.
      const o = other === s || other === dead ? `${other}x` : other;
      const allowed = [
        `events.${tail}`,
        'eventstore',
        `x.eventstore.${tail}`,
        `$JS.API.STREAM.INFO.${o}`,
        `$JS.API.INFO`,
        `$JS.API.STREAM.NAMES`,
        `$JS.API.CONSUMER.INFO.${o}.${s}`,
        `$JS.API.CONSUMER.MSG.NEXT.${o}.${s}`,
        // (The stream's name where a v2 ack has it and a v1 ack its delivery count: only when all digits.)
        `$JS.ACK.${o}.${s}.${n === s ? `${n}1` : n}.${n}.${n}.${n}.0`,
        `$JS.${s}.API.STREAM.INFO.${o}`,
        `_INBOX.${tail}`,
      ];
      for (const subject of allowed) assert.equal(r.has(subject), false, subject);
      // And the set agrees with a plain match of every pattern, for random subjects of these tokens.
      for (const subject of [...reserved, ...allowed])
        assert.equal(
          r.has(subject),
          storeReservedSubjects(s).some((p) => subjectMatches(p, subject)),
        );
    }),
    { numRuns: 300 },
  );
  // A wildcard subscription spanning the store is allowed (and filtered on delivery); one inside it is refused.
  const r = new ReservedSubjects(RESERVED);
  assert.equal(r.has('>'), false);
  assert.equal(r.has('$JS.>'), false);
  assert.equal(r.has('eventstore.*.e.>'), true);
  assert.equal(r.has(`$JS.API.STREAM.INFO.${layout.stream}`), true);
});

test('reserved: merged with a user’s own permissions, a reply grant never opens a reserved subject', () => {
  const rules = PermissionRules.compile({
    pubAllow: [{ subject: 'svc.>', queue: undefined }],
    pubDeny: [],
    subAllow: undefined,
    subDeny: [{ subject: 'secret.>', queue: undefined }],
    response: DEFAULT_RESPONSE_PERMISSION,
  });
  const p = withReserved(new Permissions(rules), new ReservedSubjects(RESERVED))!;
  assert.equal(p.canPublish('svc.a'), true);
  assert.equal(p.canPublish('other'), false, 'the user’s allow list still applies');
  assert.equal(p.canSubscribe('secret.x', undefined), false, 'the user’s deny list still applies');
  assert.equal(p.canDeliver!('secret.x'), false);
  assert.equal(p.canSubscribe('>', undefined), true);
  assert.equal(p.canDeliver!(layout.event('x', [])), false);
  // A request delivered with a reply opens it (allow_responses), unless the reply is the store's.
  p.noteReply!('_INBOX.a.b');
  p.noteReply!('eventstore.inbox.x.y');
  assert.equal(p.canPublish('_INBOX.a.b'), true);
  assert.equal(p.canPublish('eventstore.inbox.x.y'), false);
  // Nothing reserved, or a system connection: the permissions as they were, no wrapper on the hot path.
  assert.equal(withReserved(undefined, undefined), undefined);
  const own = new Permissions(rules);
  assert.equal(withReserved(own, undefined), own);
});
