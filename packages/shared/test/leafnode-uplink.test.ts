// The Uplink (leaf side of a leafnode link) against a raw-protocol hub: a net.Server that speaks the hub's half
// with send/expect, so the wire is checked line by line (CONNECT fields, interest burst, LMSG shapes, the order of
// held messages after an outage, loop and -ERR handling). The local side is a real broker with shared's Client
// over a net.Server, reached by the official `nats` client. Real hubs (our listener, nats-server 2.9) are
// event-service/test/uplink.test.ts's.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect, StringCodec, type NatsConnection } from 'nats';
import {
  Broker,
  Client,
  SocketTransport,
  Uplink,
  UplinkError,
  backoffDelayMs,
  createLogger,
  parseHubUrl,
  type ClientContext,
  type ClientLimits,
  type UplinkOptions,
} from '../src/index.js';
import { quietFor, until, WAIT_MS, within } from '@event-broker/test-support/wait';
import { RawConn } from '@event-broker/test-support/raw';

const sc = StringCodec();
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

const LIMITS: ClientLimits = {
  max_control_line: 4096,
  max_payload: 1024 * 1024,
  max_pending: 64 * 1024 * 1024,
  max_subscriptions: 0,
  ping_interval: 120_000,
  ping_max: 2,
  write_deadline: 10_000,
  auth_timeout: 2000,
};

// --- the local "gateway": a broker and shared's Client over a net.Server -----------------------------------

interface Front {
  readonly broker: Broker;
  readonly port: number;
  close(): Promise<void>;
}

async function startFront(t: TestContext): Promise<Front> {
  const broker = new Broker(1_000_000);
  const clients = new Set<Client>();
  let port = 0;
  const ctx: ClientContext = {
    broker,
    limits: LIMITS,
    authenticator: undefined,
    logger,
    serverInfo: () => ({
      server_id: 'NFRONT',
      server_name: 'front',
      version: '2.9.10',
      proto: 1,
      headers: true,
      max_payload: LIMITS.max_payload,
      host: '127.0.0.1',
      port,
    }),
    clientClosed: (c) => void clients.delete(c),
  };
  let cid = 0;
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    const c = new Client(ctx, ++cid, new SocketTransport(socket));
    clients.add(c);
    c.start();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
  const front: Front = {
    broker,
    port,
    async close() {
      for (const c of [...clients]) c.close('Server Shutdown');
      await new Promise((r) => server.close(r));
    },
  };
  t.after(() => front.close());
  return front;
}

async function natsClient(t: TestContext, front: Front): Promise<NatsConnection> {
  const nc = await connect({ servers: `127.0.0.1:${front.port}` });
  t.after(() => nc.close());
  return nc;
}

// --- the raw hub -------------------------------------------------------------------------------------------

/** One accepted leaf connection: test-support's raw client on the hub's side, naming what a test waits for. */
class RawPeer {
  readonly conn: RawConn;
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    this.conn = new RawConn(socket);
    this.closed = new Promise((r) => socket.once('close', () => r()));
  }

  /** What came in and no expect consumed (latin1, so string offsets are byte offsets). */
  get input(): string {
    return this.conn.buffered;
  }

  send(s: string): void {
    this.socket.write(s);
  }

  /** Waits for `re` in what came in and consumes everything up to the end of the match. */
  async expect(re: RegExp, what: string, ms = WAIT_MS): Promise<RegExpExecArray> {
    try {
      return await this.conn.expect(re, ms);
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
  }

  /** The handshake a hub sees: CONNECT, LS+ lines, PING. Answers our interest burst with `hubLines` and a PONG. */
  async handshake(hubLines = ''): Promise<{ connect: Record<string, unknown>; burst: string[] }> {
    const c = await this.expect(/^CONNECT (\{.*?\})\r\n/, 'CONNECT');
    const b = await this.expect(/^((?:LS\+ [^\r]*\r\n)*)PING\r\n/, 'interest burst and PING');
    this.send(`${hubLines}PONG\r\n`);
    return { connect: JSON.parse(c[1]!) as Record<string, unknown>, burst: b[1]!.split('\r\n').filter(Boolean) };
  }
}

class RawHub {
  readonly peers: RawPeer[] = [];
  private server: net.Server | undefined;
  private arrived: (() => void) | undefined;
  private lid = 0;
  port = 0;

  constructor(private readonly info: (lid: number, port: number) => Record<string, unknown> = hubInfo) {}

  async listen(port = 0): Promise<void> {
    const server = net.createServer((socket) => {
      const peer = new RawPeer(socket);
      socket.write(`INFO ${JSON.stringify(this.info(++this.lid, this.port))} \r\n`);
      this.peers.push(peer);
      this.arrived?.();
    });
    this.server = server;
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** The n-th connection (1-based), waiting for it. */
  async peer(n: number, what = `leaf connection ${n}`): Promise<RawPeer> {
    await until(() => this.peers.length >= n, what);
    return this.peers[n - 1]!;
  }

  /** Stops listening and drops every connection (a hub going away). */
  async stop(): Promise<void> {
    for (const p of this.peers) p.socket.destroy();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
    this.server = undefined;
  }
}

function hubInfo(lid: number, port: number): Record<string, unknown> {
  return {
    server_id: 'NRAWHUB',
    server_name: 'raw-hub',
    version: '2.9.10',
    proto: 1,
    headers: true,
    max_payload: 1048576,
    client_id: lid,
    leafnode_urls: [`127.0.0.1:${port}`],
  };
}

async function startHub(
  t: TestContext,
  info?: (lid: number, port: number) => Record<string, unknown>,
): Promise<RawHub> {
  const hub = new RawHub(info);
  await hub.listen();
  t.after(() => hub.stop());
  return hub;
}

function startUplink(t: TestContext, front: Front, hub: { port: number }, opts: Partial<UplinkOptions> = {}): Uplink {
  const up = new Uplink(front.broker, {
    urls: [`nats://127.0.0.1:${hub.port}`],
    limits: LIMITS,
    logger,
    name: 'gw-test',
    reconnectDelayMs: 20,
    reconnectMaxDelayMs: 100,
    ...opts,
  });
  t.after(() => up.close());
  up.start();
  return up;
}

/** `LMSG <subject> <size>\r\n<payload>\r\n` payloads for one subject, in the order they came. */
function lmsgPayloads(input: string, subject: string): string[] {
  const out: string[] = [];
  const re = /LMSG (\S+) (?:\S+ )?(\d+)\r\n/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(input)) !== null) {
    const size = Number(m[2]);
    const start = m.index + m[0].length;
    if (m[1] === subject) out.push(input.slice(start, start + size));
    re.lastIndex = start + size + 2;
  }
  return out;
}

// --- tests -------------------------------------------------------------------------------------------------

describe('uplink URLs and backoff', () => {
  it('parses nats://, tls://, nats-leaf:// and bare host:port, port 7422 by default, credentials kept out of display', () => {
    assert.deepEqual(parseHubUrl('nats://127.0.0.1:7000'), {
      host: '127.0.0.1',
      port: 7000,
      tls: false,
      display: 'nats://127.0.0.1:7000',
    });
    assert.deepEqual(parseHubUrl('tls://hub.example'), {
      host: 'hub.example',
      port: 7422,
      tls: true,
      display: 'tls://hub.example:7422',
    });
    assert.deepEqual(parseHubUrl('localhost:7001'), {
      host: 'localhost',
      port: 7001,
      tls: false,
      display: 'nats://localhost:7001',
    });
    assert.deepEqual(parseHubUrl('nats-leaf://[::1]:7002'), {
      host: '::1',
      port: 7002,
      tls: false,
      display: 'nats-leaf://[::1]:7002',
    });
    const creds = parseHubUrl('nats://leaf:s3cret@10.0.0.1:7422');
    assert.equal(creds.user, 'leaf');
    assert.equal(creds.pass, 's3cret');
    assert.doesNotMatch(creds.display, /s3cret/);
    assert.throws(
      () => parseHubUrl('http://x:1'),
      (e: unknown) => e instanceof UplinkError && e.code === 'EUPLINK_URL' && /http/.test(e.message),
    );
    assert.throws(
      () => parseHubUrl('nats://u:topsecret@:1'),
      (e: unknown) => e instanceof UplinkError && !e.message.includes('topsecret'),
    );
  });

  it('backoff doubles from the base, never exceeds the cap, and is at least half of its step (half jitter), anywhere below it (full), or the step (none)', () => {
    for (let attempt = 1; attempt <= 40; attempt++) {
      const step = Math.min(10_000, 1000 * 2 ** (attempt - 1));
      for (let k = 0; k < 20; k++) {
        const d = backoffDelayMs(attempt, { baseMs: 1000, capMs: 10_000, jitter: 'half' });
        assert.ok(d >= step / 2 && d <= step, `attempt ${attempt}: ${d} within [${step / 2}, ${step}]`);
        const f = backoffDelayMs(attempt, { baseMs: 1000, capMs: 10_000 });
        assert.ok(f >= 0 && f < step, `attempt ${attempt}: ${f} within [0, ${step})`);
      }
      assert.equal(backoffDelayMs(attempt, { baseMs: 1000, capMs: 10_000, jitter: 'none' }), step);
    }
    assert.equal(
      backoffDelayMs(2 ** 40, { baseMs: 1000, capMs: 10_000, jitter: 'none' }),
      10_000,
      'a huge attempt count is the cap',
    );
  });
});

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

  it('holds what the hub wanted while it is gone and sends it in order after the interest burst; stale interest goes at the PONG', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { interestWaitMs: 300 });
    const downs: string[] = [];
    up.onStateChange((e) => e.type !== 'up' && downs.push(e.type));
    const nc = await natsClient(t, front);
    nc.subscribe('local.interest');
    await nc.flush();
    const first = await hub.peer(1);
    await first.handshake('LS+ keep.x\r\nLS+ gone.x\r\nLS+ keep.q g 1\r\n');
    await within(up.waitUntilUp(WAIT_MS), 'up');
    assert.deepEqual([...up.subs.keys()].sort(), ['gone.x', 'keep.q g', 'keep.x']);

    first.socket.destroy();
    await until(() => !up.up, 'the uplink sees the link gone');
    assert.deepEqual(downs, ['down']);
    assert.equal(up.lastError?.code, 'EUPLINK_CLOSED');
    // The hub's interest is kept: what matches it is held, in order; what does not is not held at all.
    nc.publish('keep.x', sc.encode('k0'));
    nc.publish('gone.x', sc.encode('g0'));
    nc.publish('keep.x', sc.encode('k1'));
    nc.publish('keep.q', sc.encode('q0'));
    nc.publish('unrelated', sc.encode('u'));
    nc.publish('keep.x', sc.encode('k2'));
    await nc.flush();
    await until(
      () => up.counters.bufferedMsgs === 5,
      'five messages held',
      WAIT_MS,
      () => JSON.stringify(up.counters),
    );

    const second = await hub.peer(2, 'the uplink redials');
    const hs = await second.handshake('LS+ keep.x\r\nLS+ keep.q g 3\r\n');
    assert.ok(hs.burst.includes('LS+ local.interest'), 'local interest re-sent');
    await within(up.waitUntilUp(WAIT_MS), 'up again');
    // keep.x messages cross at once up to gone.x, which waits interestWaitMs for interest that never comes.
    await second.expect(/^LMSG keep\.x 2\r\nk0\r\n/, 'k0 first');
    // The point: nothing more comes for a while (well inside interestWaitMs).
    await quietFor(100);
    assert.doesNotMatch(second.input, /k1/, 'k1 waits behind g0: order is kept');
    await until(
      () => up.counters.bufferedMsgs === 0,
      'the held messages drained',
      WAIT_MS,
      () => JSON.stringify(up.counters),
    );
    await second.expect(
      /^LMSG keep\.x 2\r\nk1\r\nLMSG keep\.q \| g 2\r\nq0\r\nLMSG keep\.x 2\r\nk2\r\n/,
      'the rest in order, the queue name kept',
    );
    assert.equal(up.counters.droppedNoInterest, 1, 'g0: the hub no longer wants gone.x');
    assert.deepEqual([...up.subs.keys()].sort(), ['keep.q g', 'keep.x'], 'gone.x was not re-announced: dropped');
    assert.equal(up.counters.reconnects, 1);
    // Live traffic flows directly again.
    nc.publish('keep.x', sc.encode('k3'));
    await second.expect(/^LMSG keep\.x 2\r\nk3\r\n/, 'live after the drain');
  });

  it('interest the hub withdrew just before the link dropped (a hub shutting down) is held for too; older withdrawals are not', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { withdrawnInterestMs: 500, interestWaitMs: 200 });
    const nc = await natsClient(t, front);
    const first = await hub.peer(1);
    await first.handshake('LS+ late.x\r\nLS+ early.x\r\n');
    await within(up.waitUntilUp(WAIT_MS), 'up');
    first.send('LS- early.x\r\n');
    await until(() => !up.subs.has('early.x'), 'early.x withdrawn');
    // The early withdrawal must be older than withdrawnInterestMs (500) when the link drops.
    const earlyAt = Date.now();
    await until(() => Date.now() >= earlyAt + 700, 'the early withdrawal is 700 ms old');
    // As nats-server's shutdown may do: its clients' interest withdrawn, then the link closed.
    first.send('LS- late.x\r\n');
    await until(() => !up.subs.has('late.x'), 'late.x withdrawn');
    first.socket.destroy();
    await until(() => !up.up, 'link gone');
    assert.deepEqual([...up.subs.keys()], ['late.x'], 'the interest withdrawn a moment before the drop is back');
    nc.publish('late.x', sc.encode('kept'));
    nc.publish('early.x', sc.encode('not held'));
    await nc.flush();
    await until(() => up.counters.bufferedMsgs === 1, 'one message held');
    const second = await hub.peer(2);
    await second.handshake('LS+ late.x\r\n');
    await second.expect(/^LMSG late\.x 4\r\nkept\r\n/, 'the held message once the hub wants it again');
  });

  it('a full buffer pauses the publisher (its flush waits) until the link is back and drained; nothing is lost', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { bufferBytes: 4096 });
    const nc = await natsClient(t, front);
    const first = await hub.peer(1);
    await first.handshake('LS+ bulk\r\n');
    await within(up.waitUntilUp(WAIT_MS), 'up');
    first.socket.destroy();
    await until(() => !up.up, 'link gone');
    await hub.stop();

    const N = 400;
    const pad = 'x'.repeat(500);
    for (let i = 0; i < N; i++) nc.publish('bulk', sc.encode(`${String(i).padStart(4, '0')}${pad}`));
    let flushed = false;
    const flush = nc.flush().then(() => (flushed = true));
    await until(() => up.counters.pausedPublishers === 1, 'the publisher paused');
    // The point: its flush stays pending for a while.
    await quietFor(300);
    assert.equal(flushed, false, "the publisher's flush waits while it is paused");
    const heldWhilePaused = up.counters.bufferedMsgs;
    assert.ok(heldWhilePaused < N, `only part of the burst was read (${heldWhilePaused} of ${N})`);

    await hub.listen(hub.port);
    const second = await hub.peer(2, 'redial to the restarted hub');
    await second.handshake('LS+ bulk\r\n');
    await within(flush, 'the flush completes once the buffer drained');
    await until(
      () => lmsgPayloads(second.input, 'bulk').length === N,
      'every message at the hub',
      WAIT_MS,
      () => `${lmsgPayloads(second.input, 'bulk').length} of ${N}`,
    );
    const got = lmsgPayloads(second.input, 'bulk').map((p) => Number(p.slice(0, 4)));
    assert.deepEqual(
      got,
      Array.from({ length: N }, (_, i) => i),
      'all of them, in order',
    );
    assert.equal(up.counters.pausedPublishers, 0);
    assert.equal(up.counters.droppedNoInterest, 0);
  });

  it('PINGs the hub every ping_interval and drops it as stale once ping_max go unanswered, then redials; the handshake PONG gives the first rtt', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { limits: { ...LIMITS, ping_interval: 100, ping_max: 2 } });
    const first = await hub.peer(1);
    await first.handshake();
    await within(up.waitUntilUp(WAIT_MS), 'up');
    assert.ok(up.rttMs > 0, `the handshake's round trip is measured (${up.rttMs} ms)`);
    // The hub answers nothing more: two PINGs (ping_max), then the link is stale at the third tick.
    await within(first.closed, 'the stale link closes');
    assert.equal(up.lastError?.code, 'EUPLINK_STALE');
    assert.match(up.lastError!.message, /2 PINGs unanswered/);
    assert.equal(first.input.match(/PING\r\n/g)?.length, 2, 'ping_max PINGs after the handshake, then the close');
    await hub.peer(2, 'redial after the stale link');
  });

  it("a hub that never answers our CONNECT's PING is dropped after handshakeTimeoutMs (EUPLINK_HANDSHAKE) and redialled", async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { handshakeTimeoutMs: 500 });
    const first = await hub.peer(1);
    await first.expect(/PING\r\n/, 'CONNECT, interest and PING');
    await within(first.closed, 'the link closes at the handshake timeout');
    assert.equal(up.lastError?.code, 'EUPLINK_HANDSHAKE');
    assert.match(up.lastError!.message, /no PONG to our CONNECT within 500 ms/);
    assert.equal(up.up, false);
    await hub.peer(2, 'redialled');
  });

  it('our loop-detection subject coming back ends the link with the loop -ERR and waits before redialling', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub);
    const peer = await hub.peer(1);
    await peer.handshake();
    await within(up.waitUntilUp(WAIT_MS), 'up');
    peer.send(`LS+ ${up.loopSubject}\r\n`);
    await peer.expect(
      /^-ERR 'Loop detected for leafnode account="\$G"\. Delaying attempt to reconnect for 30s'\r\n/,
      'the loop -ERR',
    );
    await within(peer.closed, 'the link closes');
    assert.equal(up.lastError?.code, 'EUPLINK_LOOP');
    // The point: no redial comes for a while.
    await quietFor(300);
    assert.equal(hub.peers.length, 1, 'no redial within the loop delay');
  });

  it("a hub's -ERR becomes lastError and the uplink redials; each distinct failure is logged once", async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const lines: string[] = [];
    const recording = createLogger({
      level: 'debug',
      format: 'json',
      destination: { write: (s: string) => void lines.push(s) } as unknown as NodeJS.WritableStream,
    });
    const up = startUplink(t, front, hub, { logger: recording, handshakeTimeoutMs: 1000 });
    for (let n = 1; n <= 3; n++) {
      const peer = await hub.peer(n);
      await peer.expect(/PING\r\n/, 'handshake');
      peer.send("-ERR 'Authorization Violation'\r\n");
      peer.socket.end();
    }
    await hub.peer(4, 'a fourth attempt');
    assert.equal(up.up, false);
    assert.equal(up.lastError?.code, 'EUPLINK_HUB_ERROR');
    assert.match(up.lastError!.message, /Authorization Violation/);
    const warned = lines
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === 40 && l.msg === 'uplink attempt failed');
    assert.equal(warned.length, 1, 'the repeated failure is logged at warn once');
    await assert.rejects(
      up.waitUntilUp(200),
      (e: unknown) => e instanceof UplinkError && /Authorization Violation/.test(e.message),
    );
  });

  it('LS+ and LMSG from the hub with a subject that is not UTF-8 are counted and logged (rate-limited); the link stays up', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const lines: string[] = [];
    const recording = createLogger({
      level: 'info',
      format: 'json',
      destination: { write: (s: string) => void lines.push(s) } as unknown as NodeJS.WritableStream,
    });
    const up = startUplink(t, front, hub, { logger: recording });
    const peer = await hub.peer(1);
    await peer.handshake();
    await within(up.waitUntilUp(WAIT_MS), 'up');
    const bad = '\xff\xfe';
    for (let i = 0; i < 20; i++) peer.socket.write(Buffer.from(`LS+ a.${bad}\r\nLMSG b.${bad} 2\r\nhi\r\n`, 'latin1'));
    peer.send('PING\r\n');
    await peer.expect(/PONG\r\n/, 'the link answers after them');
    assert.equal(up.counters.inRefused, 40, 'every refused LS+ and LMSG counted');
    const warned = lines
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === 40 && /UTF-8/.test(l.msg));
    assert.ok(warned.length >= 1 && warned.length <= 2, `logged, rate-limited: ${warned.length} warn lines for 40`);
    assert.equal(up.up, true);
  });

  it('a port whose INFO is not a leafnode port is refused at the handshake', async (t) => {
    const front = await startFront(t);
    const clientPort = await startHub(t, (lid) => ({
      server_id: 'NCLIENTPORT',
      version: '2.9.10',
      proto: 1,
      headers: true,
      max_payload: 1048576,
      client_id: lid,
    }));
    const up = startUplink(t, front, clientPort);
    await assert.rejects(
      up.waitUntilUp(1000),
      (e: unknown) => e instanceof UplinkError && e.code === 'EUPLINK_HANDSHAKE' && /leafnode port/.test(e.message),
    );
    assert.equal(clientPort.peers[0]!.input, '', 'nothing is sent to a port that is not a leafnode port');
  });

  it('close() removes the hub interest from the local broker, resumes paused publishers and counts what it discards', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { bufferBytes: 1024 });
    const nc = await natsClient(t, front);
    const peer = await hub.peer(1);
    await peer.handshake('LS+ held.x\r\n');
    await within(up.waitUntilUp(WAIT_MS), 'up');
    const before = front.broker.sublist.count;
    await hub.stop();
    await until(() => !up.up, 'link gone');
    for (let i = 0; i < 50; i++) nc.publish('held.x', sc.encode('y'.repeat(100)));
    const flush = nc.flush();
    await until(() => up.counters.pausedPublishers === 1, 'paused');
    const events: string[] = [];
    up.onStateChange((e) => events.push(e.type));
    const held = up.counters.bufferedMsgs;
    await within(up.close(), 'close');
    await within(flush, 'the publisher runs again after close');
    assert.equal(front.broker.sublist.count, before - 1, "the hub's interest left the local broker");
    assert.equal(up.counters.droppedOnClose, held);
    assert.deepEqual(events, ['closed']);
    assert.equal(up.state, 'closed');
    await assert.rejects(up.waitUntilUp(100), (e: unknown) => e instanceof UplinkError && e.code === 'EUPLINK_CLOSED');
    // The local side is unaffected.
    const got: string[] = [];
    nc.subscribe('after.close', { callback: (_e, m) => got.push(sc.decode(m.data)) });
    nc.publish('after.close', sc.encode('ok'));
    await until(() => got.length === 1, 'local delivery after close');
  });
});
