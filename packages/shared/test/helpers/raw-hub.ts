// What the leafnode-uplink-*.test.ts files share: the Uplink (leaf side of a leafnode link) between a local
// "gateway" (a real broker with shared's Client over a net.Server, reached by the official `nats` client) and a
// raw-protocol hub (a net.Server that speaks the hub's half with send/expect, so the wire is checked line by line).
// The tests themselves are those files'.
import type { TestContext } from 'node:test';
import net from 'node:net';
import { connect, StringCodec, type NatsConnection } from 'nats';
import {
  Broker,
  Client,
  SocketTransport,
  Uplink,
  createLogger,
  type ClientContext,
  type ClientLimits,
  type UplinkOptions,
} from '../../src/index.js';
import { until } from '@event-broker/test-support/wait';
import { RawConn } from '@event-broker/test-support/raw';

/** How long the raw hub waits for what the uplink must send (its CONNECT, interest, PINGs): a promptness check too. */
const HUB_WAIT_MS = 3000;

export const sc = StringCodec();
export const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export const LIMITS: ClientLimits = {
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

export interface Front {
  readonly broker: Broker;
  readonly port: number;
  close(): Promise<void>;
}

export async function startFront(t: TestContext): Promise<Front> {
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

export async function natsClient(t: TestContext, front: Front): Promise<NatsConnection> {
  const nc = await connect({ servers: `127.0.0.1:${front.port}` });
  t.after(() => nc.close());
  return nc;
}

// --- the raw hub -------------------------------------------------------------------------------------------

/** One accepted leaf connection: test-support's raw client on the hub's side, naming what a test waits for. */
export class RawPeer {
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
  async expect(re: RegExp, what: string, ms = HUB_WAIT_MS): Promise<RegExpExecArray> {
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

export class RawHub {
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

export async function startHub(
  t: TestContext,
  info?: (lid: number, port: number) => Record<string, unknown>,
): Promise<RawHub> {
  const hub = new RawHub(info);
  await hub.listen();
  t.after(() => hub.stop());
  return hub;
}

export function startUplink(
  t: TestContext,
  front: Front,
  hub: { port: number },
  opts: Partial<UplinkOptions> = {},
): Uplink {
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
export function lmsgPayloads(input: string, subject: string): string[] {
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
