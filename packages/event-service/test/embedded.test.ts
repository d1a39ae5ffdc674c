// The embedded API (api.ts) against network clients: an in-process publisher, subscriber, requester or responder
// must be indistinguishable, from the network side, from another NATS client, and see network clients alike.
// Ours only: nats-server has no in-process API.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEventService, type EventService, type Msg as EmbeddedMsg, type MsgHeaders } from '../src/index.js';
import { connections, natsV2, record } from './helpers/clients.js';
import { uniqueSubject } from '@event-broker/test-support/flow';
import { drainAll, take, until, within } from '@event-broker/test-support/wait';

/** MsgHeaders allows a lone value as a string or a one-element array: compare them as arrays. */
function normalise(h: MsgHeaders | undefined): Record<string, string[]> | undefined {
  if (h === undefined) return undefined;
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]));
}

const quiet = { service: { host: '127.0.0.1', port: 0 }, log: { level: 'silent' } } as const;

describe('embedded event service', () => {
  let svc: EventService;
  const connect = connections(natsV2, () => `nats://127.0.0.1:${svc.port}`);
  before(async () => {
    svc = await startEventService(quiet);
  });
  after(async () => {
    await svc?.close();
  });

  it('an in-process publish reaches a network subscriber, headers and reply subject included', async () => {
    const nc = await connect();
    const subject = uniqueSubject('emb-out');
    const r = record(nc, subject);
    await nc.flush();
    svc.publish(subject, 'plain');
    svc.publish(subject, new Uint8Array([1, 2, 3]), {
      reply: `${subject}.reply`,
      headers: { 'X-Multi': ['a', 'b'], 'X-Mixed-Case': 'Value' },
    });
    await until(() => r.msgs.length === 2, 'two messages at the network subscriber');
    const [plain, rich] = r.msgs;
    assert.equal(plain!.string(), 'plain');
    assert.deepEqual([...rich!.data], [1, 2, 3]);
    assert.equal(rich!.reply, `${subject}.reply`);
    assert.deepEqual(rich!.headers?.values('X-Multi'), ['a', 'b']);
    assert.equal(rich!.headers?.get('X-Mixed-Case'), 'Value');
  });

  it('a network publish reaches an in-process callback subscriber, with headers and the publisher id', async () => {
    const nc = await connect();
    const subject = uniqueSubject('emb-in-cb');
    const got: EmbeddedMsg[] = [];
    const sub = svc.subscribe(subject, { callback: (m) => got.push(m) });
    const h = natsV2.headers();
    h.append('X-Multi', 'a');
    h.append('X-Multi', 'b');
    h.set('X-Mixed-Case', 'Value');
    nc.publish(subject, 'hello', { headers: h, reply: 'some.reply' });
    nc.publish(subject, 'second');
    await nc.flush();
    await until(() => got.length === 2, 'two messages at the in-process subscriber');
    const [first, second] = got as [EmbeddedMsg, EmbeddedMsg];
    assert.equal(first.subject, subject);
    assert.equal(first.string(), 'hello');
    assert.equal(first.reply, 'some.reply');
    assert.deepEqual(normalise(first.headers), { 'X-Multi': ['a', 'b'], 'X-Mixed-Case': ['Value'] });
    assert.equal(first.sid, sub.sid);
    assert.equal(first.publisher.id, nc.info?.client_id, 'publisher.id is the NATS client id');
    assert.equal(second.string(), 'second');
    assert.equal(second.headers, undefined);
    assert.equal(sub.received, 2);
    sub.unsubscribe();
    await within(sub.closed, 'closed after unsubscribe');
  });

  it('a network publish reaches an in-process async-iterator subscriber, in order', async () => {
    const nc = await connect();
    const subject = uniqueSubject('emb-in-iter');
    const sub = svc.subscribe(`${subject}.*`);
    for (let i = 0; i < 100; i++) nc.publish(`${subject}.${i % 3}`, String(i));
    nc.publish(`${subject}.not.matched`, 'x');
    await nc.flush();
    const msgs = await take(sub, 100, 'in-process iterator');
    assert.deepEqual(
      msgs.map((m) => m.string()),
      Array.from({ length: 100 }, (_, i) => String(i)),
    );
    assert.equal(msgs[4]!.subject, `${subject}.1`);
    sub.unsubscribe();
    assert.deepEqual(await drainAll(sub, 'iterator ends after unsubscribe'), []);
  });

  it('an in-process request is answered by a network responder', async () => {
    const nc = await connect();
    const subject = uniqueSubject('emb-req-out');
    nc.subscribe(subject, {
      callback: (err, m) => {
        if (err) return;
        const h = natsV2.headers();
        h.set('X-Seen', m.headers?.get('X-Req') ?? 'none');
        m.respond(`net:${m.string()}`, { headers: h });
      },
    });
    await nc.flush();
    const reply = await within(svc.request(subject, 'q', { timeoutMs: 2000, headers: { 'X-Req': 'r1' } }), 'reply');
    assert.equal(reply.string(), 'net:q');
    assert.deepEqual(normalise(reply.headers), { 'X-Seen': ['r1'] });
  });

  it('a network request is answered by an in-process responder', async () => {
    const nc = await connect();
    const subject = uniqueSubject('emb-req-in');
    svc.subscribe(subject, {
      callback: (m) => {
        assert.ok(m.respond(`emb:${m.string()}`, { headers: { 'X-From': 'embedded' } }), 'respond finds a reply subject');
      },
    });
    const replies = await within(
      Promise.all(Array.from({ length: 20 }, (_, i) => nc.request(subject, String(i), { timeout: 2000 }))),
      '20 replies',
    );
    assert.deepEqual(
      replies.map((m) => m.string()),
      Array.from({ length: 20 }, (_, i) => `emb:${i}`),
    );
    assert.equal(replies[0]!.headers?.get('X-From'), 'embedded');
  });

  it('respond() on a message without a reply subject returns false', async () => {
    const subject = uniqueSubject('emb-noreply');
    const got: EmbeddedMsg[] = [];
    svc.subscribe(subject, { max: 1, callback: (m) => got.push(m) });
    svc.publish(subject, 'x');
    await until(() => got.length === 1, 'the message');
    assert.equal(got[0]!.respond('nobody'), false);
  });

  it('in-process and network members of one queue group share its messages, each delivered once', async () => {
    const total = 200;
    const subject = uniqueSubject('emb-queue');
    const [pub, m1, m2] = await Promise.all([connect(), connect(), connect()]);
    const network = [record(m1, subject, { queue: 'workers' }), record(m2, subject, { queue: 'workers' })];
    await Promise.all([m1.flush(), m2.flush()]);
    const local: string[][] = [[], []];
    const localSubs = local.map((bucket) =>
      svc.subscribe(subject, { queue: 'workers', callback: (m) => bucket.push(m.string()) }),
    );
    const plain: string[] = [];
    svc.subscribe(subject, { callback: (m) => plain.push(m.string()) });
    for (let i = 0; i < total; i++) {
      // Half from the network, half from in-process: both kinds of publisher are balanced alike.
      if (i % 2 === 0) pub.publish(subject, String(i));
      else svc.publish(subject, String(i));
    }
    await pub.flush();
    const counts = () => [...network.map((r) => r.msgs.length), ...local.map((b) => b.length)];
    const sum = () => counts().reduce((a, b) => a + b, 0);
    await until(() => sum() >= total && plain.length >= total, `${total} across the group`, 5000, () =>
      `members ${counts().join('+')}, plain ${plain.length}`,
    );
    await Promise.all([m1.flush(), m2.flush()]);
    assert.equal(sum(), total);
    const all = [...network.flatMap((r) => r.strings()), ...local.flat()];
    assert.equal(new Set(all).size, total, 'every message went to exactly one member');
    for (const [i, n] of counts().entries()) assert.ok(n > 0, `member ${i} got some (${counts().join('+')})`);
    assert.equal(plain.length, total, 'a plain in-process subscriber gets every message');
    for (const s of localSubs) s.unsubscribe();
  });

  it("rejects an in-process request nobody listens to with code '503', before its timeout", async () => {
    const subject = uniqueSubject('emb-nobody');
    const err = await within(
      svc.request(subject, 'anyone?', { timeoutMs: 10_000 }).then(
        () => new Error('unexpected reply'),
        (e: unknown) => e,
      ),
      'no-responders rejection',
      2000,
    );
    assert.ok(err instanceof Error);
    assert.equal((err as Error & { code?: unknown }).code, '503', `code of ${String(err)}`);
  });

  it('auto-unsubscribes an in-process subscription after max messages', async () => {
    const subject = uniqueSubject('emb-max');
    const got: string[] = [];
    const sub = svc.subscribe(subject, { max: 2, callback: (m) => got.push(m.string()) });
    for (let i = 0; i < 5; i++) svc.publish(subject, String(i));
    await within(sub.closed, 'closed after 2');
    assert.deepEqual(got, ['0', '1']);
    assert.equal(sub.received, 2);
  });

  it('throws on an invalid subject in subscribe', () => {
    // `b*` alone would be a valid literal token (nats-server checks wildcards only as whole tokens).
    for (const bad of ['', 'foo..bar', 'foo.>.bar', '.foo', 'foo.', 'foo bar', '>.x']) {
      assert.throws(() => svc.subscribe(bad), `subscribe(${JSON.stringify(bad)}) throws`);
    }
  });
});

describe('embedded event service close()', () => {
  let svc: EventService | undefined;
  const connect = connections(natsV2, () => `nats://127.0.0.1:${svc!.port}`);
  after(async () => {
    await svc?.close();
  });

  it('delivers a message published just before close, then closes network clients and in-process iterators', async () => {
    svc = await startEventService(quiet);
    const nc = await connect();
    const subject = uniqueSubject('emb-close');
    const r = record(nc, subject);
    await nc.flush();
    const local = svc.subscribe(subject);
    svc.publish(subject, 'first');
    svc.publish(subject, 'last');
    await within(svc.close(), 'close()');
    await within(nc.closed(), 'the network client sees the close');
    assert.deepEqual(r.strings(), ['first', 'last'], 'network subscriber got the messages sent before close');
    const rest = await drainAll(local, 'in-process iterator ends after close');
    assert.deepEqual(
      rest.map((m) => m.string()),
      ['first', 'last'],
    );
  });
});
