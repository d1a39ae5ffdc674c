// The embedded API (api.ts) against network clients: an in-process publisher, subscriber, requester or responder
// must be indistinguishable, from the network side, from another NATS client, and see network clients alike.
// Ours only: nats-server has no in-process API.
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {
  startEventService,
  type EventService,
  type InProcessEventService,
  type Msg as EmbeddedMsg,
  type MsgHeaders,
} from '../src/index.js';
import { connections, natsV2, natsWs, record } from './helpers/clients.js';
import { uniqueSubject } from '@event-broker/test-support/flow';
import { tmpDir } from '@event-broker/test-support/tmp';
import { drainAll, take, until, within } from '@event-broker/test-support/wait';
import { freePort } from '@event-broker/test-support/processes';

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
        assert.ok(
          m.respond(`emb:${m.string()}`, { headers: { 'X-From': 'embedded' } }),
          'respond finds a reply subject',
        );
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
    await until(
      () => sum() >= total && plain.length >= total,
      `${total} across the group`,
      5000,
      () => `members ${counts().join('+')}, plain ${plain.length}`,
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

// --- the in-process-only service: startEventService(config, { clientPort: false }) ----------------------------------

/**
 * The TCP sockets this process listens on ("address:port" in /proc's hex), from /proc/self/fd and /proc/net/tcp:
 * Linux only (undefined elsewhere).
 */
function listeningSockets(): Set<string> | undefined {
  if (!fs.existsSync('/proc/self/net/tcp')) return undefined;
  const mine = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))?.[1];
      if (inode !== undefined) mine.add(inode);
    } catch {
      // Closed between the listing and the read.
    }
  }
  const listening = new Set<string>();
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    if (!fs.existsSync(table)) continue;
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      // sl local_address rem_address st ... inode (the 10th column); st 0A is LISTEN.
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && mine.has(cols[9]!)) listening.add(cols[1]!);
    }
  }
  return listening;
}

/** The listening sockets `start` added to this process. */
async function socketsOpenedBy(start: () => Promise<unknown>): Promise<string[] | undefined> {
  const before = listeningSockets();
  await start();
  const after = listeningSockets();
  if (before === undefined || after === undefined) return undefined;
  return [...after].filter((s) => !before.has(s));
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

test('without a client port nothing listens: no socket opened, the configured port refuses; with one, its port is the one opened', async (t) => {
  const port = await freePort();
  let inProcess: InProcessEventService | undefined;
  const opened = await socketsOpenedBy(async () => {
    inProcess = await startEventService(
      { service: { host: '127.0.0.1', port }, log: { level: 'silent' } },
      { clientPort: false },
    );
  });
  t.after(() => inProcess?.close());
  if (opened === undefined) t.diagnostic('no /proc here: only the configured port is checked');
  else assert.deepEqual(opened, [], 'no listening socket opened');
  assert.ok(await refused(port), `nothing accepts on the configured port ${port}`);

  // The same check sees the listener a service with a client port opens.
  let networked: EventService | undefined;
  const openedWithPort = await socketsOpenedBy(async () => {
    networked = await startEventService(quiet);
  });
  t.after(() => networked?.close());
  if (openedWithPort !== undefined) {
    assert.equal(openedWithPort.length, 1, `one listening socket: ${openedWithPort.join(', ')}`);
    assert.equal(parseInt(openedWithPort[0]!.split(':')[1]!, 16), networked!.port);
  }
});

test('without a client port, in-process publish, subscribe, request and queue groups work as with one', async (t) => {
  const svc = await startEventService({ log: { level: 'silent' } }, { clientPort: false });
  t.after(() => svc.close());
  const subject = uniqueSubject('inproc-only');
  svc.subscribe(`${subject}.rpc`, {
    callback: (m) => m.respond(`re:${m.string()}`, { headers: { 'X-By': 'responder' } }),
  });
  const reply = await within(svc.request(`${subject}.rpc`, 'q', { timeoutMs: 2000 }), 'the reply');
  assert.equal(reply.string(), 're:q');
  assert.deepEqual(normalise(reply.headers), { 'X-By': ['responder'] });

  const iter = svc.subscribe(`${subject}.*`);
  const queued = [0, 0];
  for (const i of [0, 1]) svc.subscribe(`${subject}.work`, { queue: 'workers', callback: () => queued[i]!++ });
  for (let i = 0; i < 10; i++) svc.publish(`${subject}.work`, String(i));
  const got = await take(iter, 10, 'the iterator');
  assert.deepEqual(
    got.map((m) => m.string()),
    Array.from({ length: 10 }, (_, i) => String(i)),
  );
  assert.equal(queued[0]! + queued[1]!, 10, 'each message to one queue member');
  await assert.rejects(
    svc.request(uniqueSubject('inproc-nobody'), 'x', { timeoutMs: 2000 }),
    (err: { code?: string }) => err.code === '503',
  );
  assert.equal(svc.stats().connections, 0);
  assert.ok(svc.stats().in_msgs >= 12);
});

test('without a client port, the handlers store, answer the feed and deliver to their sink', async (t) => {
  const got: string[] = [];
  const sink = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      got.push(body);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  t.after(() => {
    sink.closeAllConnections();
    sink.close();
  });
  let svc: InProcessEventService | undefined;
  const opened = await socketsOpenedBy(async () => {
    svc = await startEventService(
      {
        store: { path: path.join(tmpDir(t), 'events.db') },
        handlers: { event_feed: `127.0.0.1:${(sink.address() as net.AddressInfo).port}` } as never,
        log: { level: 'silent' },
      },
      { clientPort: false },
    );
  });
  t.after(() => svc?.close());
  if (opened !== undefined) assert.deepEqual(opened, [], 'the handlers open no listener either');
  const event = JSON.stringify({ specversion: '1.0', id: 'inproc-1', source: '/t', type: 'nodeTerminated' });
  const ack = (
    await within(svc!.request('events.nodeTerminated', event, { timeoutMs: 5000 }), 'the intake acknowledges')
  ).json<{ id?: string }>();
  assert.equal(ack.id, 'inproc-1');
  const feed = (
    await svc!.request('$EVENTS.FEED.QUERY', JSON.stringify({ id: 'inproc-1' }), { timeoutMs: 5000 })
  ).json<{ event?: { id: string; authtype?: string } }>();
  assert.equal(feed.event?.id, 'inproc-1', 'stored');
  assert.equal(feed.event?.authtype, 'system', 'an in-process producer is the system');
  await until(() => got.some((b) => b.includes('inproc-1')), 'the sink receives the event', 10_000);
  await until(() => svc!.stats().events_held === 0, 'the delivery recorded: nothing held');
});

test('without a client port, a configured [websocket] still listens and meets in-process subscribers', async (t) => {
  const svc = await startEventService(
    { websocket: { host: '127.0.0.1', port: 0, no_tls: true }, log: { level: 'silent' } },
    { clientPort: false },
  );
  t.after(() => svc.close());
  assert.ok(svc.websocketPort !== undefined && svc.websocketPort > 0, 'the WebSocket port is bound');
  const subject = uniqueSubject('inproc-ws');
  svc.subscribe(subject, { callback: (m) => m.respond(`in-process:${m.string()}`) });
  const nc = await within(natsWs.connect({ servers: `ws://127.0.0.1:${svc.websocketPort}` }), 'nats.ws connects');
  t.after(() => nc.close());
  const reply = await within(nc.request(subject, 'hi', { timeout: 2000 }), 'the reply over WebSocket');
  assert.equal(reply.string(), 'in-process:hi');
});
