// The two ends of an uplink for the uplink tests: the gateway side (a local broker, shared's Client over a
// net.Server reached by the official `nats` client, and shared's Uplink dialing out) and a hub it dials (our
// service's [leafnodes] listener, or Debian's nats-server 2.9), each hub with its /leafz view of the link. The tests
// (uplink*.test.ts) wire them up and judge.
import net from 'node:net';
import {
  Broker,
  Client,
  SocketTransport,
  Uplink,
  createLogger,
  type ClientContext,
  type ClientLimits,
  type UplinkOptions,
} from '@event-broker/shared';
import { connect, type NatsConnection } from 'nats';
import { startEventService, type EventService } from '../../src/index.js';
import { spawnNatsServer, type NatsServer } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { within } from '@event-broker/test-support/wait';

const HOST = '127.0.0.1';

/** Interest crossing, a hub restarting and clients reconnecting: generous, still bounded. */
export const FLOW_MS = 10_000;
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

// --- the gateway side: a broker, shared's Client over a net.Server, and the Uplink --------------------------

export interface Gateway {
  readonly broker: Broker;
  readonly uplink: Uplink;
  /** A `nats` client of the gateway side. */
  readonly nc: NatsConnection;
  close(): Promise<void>;
}

export async function startGateway(upstream: string, opts: Partial<UplinkOptions> = {}): Promise<Gateway> {
  const broker = new Broker(1_000_000);
  // Before any client: the uplink's interest table must see every local subscription.
  const uplink = new Uplink(broker, {
    urls: [upstream],
    limits: LIMITS,
    logger,
    name: `gw-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    reconnectDelayMs: 50,
    reconnectMaxDelayMs: 500,
    ...opts,
  });
  const clients = new Set<Client>();
  let port = 0;
  const ctx: ClientContext = {
    broker,
    limits: LIMITS,
    authenticator: undefined,
    logger,
    serverInfo: () => ({
      server_id: 'NGATEWAYTEST',
      server_name: 'gateway-test',
      version: '2.9.10',
      proto: 1,
      headers: true,
      max_payload: LIMITS.max_payload,
      host: HOST,
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
  await new Promise<void>((r) => server.listen(0, HOST, r));
  port = (server.address() as net.AddressInfo).port;
  uplink.start();
  const nc = await connect({ servers: `${HOST}:${port}` });
  return {
    broker,
    uplink,
    nc,
    async close() {
      await nc.close().catch(() => {});
      await uplink.close();
      for (const c of [...clients]) c.close('Server Shutdown');
      await new Promise((r) => server.close(r));
    },
  };
}

// --- the hubs ----------------------------------------------------------------------------------------------

export interface LinkView {
  in_msgs: number;
  out_msgs: number;
  subscriptions: number;
}

export interface Hub {
  readonly name: string;
  readonly clientPort: number;
  readonly leafPort: number;
  /** The hub's view of the (single) leaf link, from its /leafz; undefined when no link is attached. */
  link(): Promise<LinkView | undefined>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Starts it again if a failed test left it stopped. */
  ensureRunning(): Promise<void>;
  /** Stops it for good and removes its files. */
  dispose(): Promise<void>;
}

async function leafzLink(port: number): Promise<LinkView | undefined> {
  const res = await within(fetch(`http://${HOST}:${port}/leafz`), '/leafz');
  const body = (await res.json()) as { leafs?: LinkView[] };
  return body.leafs?.[0];
}

export interface OurHubOptions {
  tls?: { cert_path: string; key_path: string; root_ca_path: string };
  /** Put the certificate under [leafnodes.tls] instead of [tls]: the client port stays plain. */
  leafTlsOnly?: boolean;
}

export async function ourHub(opts: OurHubOptions = {}): Promise<Hub & { readonly svc: EventService }> {
  const [clientPort, leafPort] = await Promise.all([freePort(), freePort()]);
  let svc: EventService | undefined;
  const hub: Hub & { readonly svc: EventService } = {
    name: 'event-service',
    clientPort,
    leafPort,
    get svc() {
      return svc!;
    },
    async start() {
      svc = await startEventService({
        service: { host: HOST, port: clientPort },
        leafnodes: { host: HOST, port: leafPort, ...(opts.tls && opts.leafTlsOnly === true && { tls: opts.tls }) },
        monitor: { host: HOST, port: 0 },
        ...(opts.tls && opts.leafTlsOnly !== true && { tls: { ...opts.tls, verify: false } }),
        log: { level: 'silent' },
      });
    },
    async stop() {
      await svc?.close();
      svc = undefined;
    },
    async ensureRunning() {
      if (svc === undefined) await hub.start();
    },
    dispose: () => hub.stop(),
    link: () => leafzLink(svc!.monitorPort!),
  };
  return hub;
}

/**
 * nats-server as the hub. Its leafnodes port cannot be 0 (0 means no leafnode listener; -1 picks one, reported
 * only in its log), so the ports are chosen first and kept across restarts.
 */
export async function natsHub(): Promise<Hub> {
  const [clientPort, leafPort, httpPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const config = [
    `listen: "${HOST}:${clientPort}"`,
    `http: "${HOST}:${httpPort}"`,
    'server_name: uplink-hub',
    `leafnodes { listen: "${HOST}:${leafPort}" }`,
  ];
  let server: NatsServer | undefined;
  const hub: Hub = {
    name: 'nats-server',
    clientPort,
    leafPort,
    async start() {
      server = await spawnNatsServer(config, { port: leafPort, startMs: FLOW_MS });
    },
    async stop() {
      const s = server;
      server = undefined;
      await s?.stop();
    },
    async ensureRunning() {
      if (server === undefined) await hub.start();
    },
    dispose: () => hub.stop(),
    link: () => leafzLink(httpPort),
  };
  return hub;
}

export async function hubClient(hub: Hub): Promise<NatsConnection> {
  // Reconnects on its own when the hub restarts, as the service's internal clients do.
  return within(
    connect({ servers: `${HOST}:${hub.clientPort}`, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
    `connect to ${hub.name}`,
  );
}
