// What the leaf-remotes*.test.ts files share: a nats-server 2.9 hub with a client port, a leafnode port and
// monitoring (its lines extended per test: authorization, JetStream, operator mode), an event service whose
// [[leafnodes.remotes]] dial it, and the waits on a remote's state. The tests judge.
import fs from 'node:fs';
import type { TestContext } from 'node:test';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { startNatsServer, type NatsServer } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { untrackedTmpDir } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { startEventService, type EventService, type ServiceConfigInputWithUnits } from '../../src/index.js';

export const HOST = '127.0.0.1';
/** A link coming up, interest crossing, a redial after the hub came back: generous, still bounded. */
export const LINK_MS = 15_000;

export interface NatsHub {
  readonly server: NatsServer;
  readonly clientPort: number;
  readonly leafPort: number;
  readonly httpPort: number;
  /** `nats://127.0.0.1:<leafPort>`. */
  readonly leafUrl: string;
}

/**
 * Cleanups of a hub and of what uses it (services dialling it, their clients), run last registered first: a service
 * is closed while its hub still runs. t.after runs in registration order, so the hub went first and a JetStream-backed service's close then
 * waited out its request_timeout on the missing hub (15 s of the 16 s jetstream-reserved.test.ts took).
 */
const stacks = new WeakMap<TestContext, (() => unknown)[]>();
export function cleanup(t: TestContext, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (stack === undefined) {
    const fns: (() => unknown)[] = [];
    stacks.set(t, (stack = fns));
    // Every step runs even when one throws (a hub left running would hang the file to the runner's timeout).
    t.after(async () => {
      const errors: unknown[] = [];
      for (const f of fns.reverse())
        await Promise.resolve()
          .then(f)
          .catch((err: unknown) => errors.push(err));
      if (errors.length > 0) throw errors[0];
    });
  }
  stack.push(fn);
}

/**
 * A directory for a hub's JetStream store (`jetstream { store_dir }`), removed after the hub is stopped: called
 * before startHub, its removal runs after the hub's kill (last registered first). Removed before, while nats-server
 * still wrote to it, the rmdir failed with ENOTEMPTY.
 */
export function hubStoreDir(t: TestContext): string {
  const dir = untrackedTmpDir('hub-js-');
  cleanup(t, () => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 }));
  return dir;
}

/**
 * nats-server with `leafnodes { listen ... <leafLines> }` and `extra` lines, killed after the services that dial it
 * are closed. Its leafnode port cannot be 0 (0 means none), so the ports are chosen first.
 */
export async function startHub(
  t: TestContext,
  opts: {
    leafLines?: readonly string[];
    extra?: readonly string[];
    ports?: { client: number; leaf: number; http: number };
  } = {},
): Promise<NatsHub> {
  const ports = opts.ports ?? { client: await freePort(), leaf: await freePort(), http: await freePort() };
  const server = await startNatsServer(
    { after: (fn) => cleanup(t, fn) },
    [
      `listen: "${HOST}:${ports.client}"`,
      `http: "${HOST}:${ports.http}"`,
      `leafnodes { listen: "${HOST}:${ports.leaf}"`,
      ...(opts.leafLines ?? []),
      '}',
      ...(opts.extra ?? []),
    ],
    ports.client,
  );
  return {
    server,
    clientPort: ports.client,
    leafPort: ports.leaf,
    httpPort: ports.http,
    leafUrl: `nats://${HOST}:${ports.leaf}`,
  };
}

/** An event service (client port 0, monitoring on) whose remotes are `remotes`; closed before its hub is killed. */
export async function startLeafService(
  t: TestContext,
  remotes: NonNullable<NonNullable<ServiceConfigInputWithUnits['leafnodes']>['remotes']>,
  extra: ServiceConfigInputWithUnits = {},
): Promise<EventService> {
  const svc = await startEventService({
    service: { host: HOST, port: 0 },
    monitor: { host: HOST, port: 0 },
    log: { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
    ...extra,
    leafnodes: { ...extra.leafnodes, remotes },
  } as ServiceConfigInputWithUnits);
  cleanup(t, () => svc.close());
  return svc;
}

/** Waits until every remote of `svc` is up. */
export async function remotesUp(svc: EventService, ms = LINK_MS): Promise<void> {
  await until(
    () => svc.remotes().every((r) => r.state === 'up'),
    'every leafnode remote up',
    ms,
    () => JSON.stringify(svc.remotes()),
  );
}

/** An official `nats` client of a port, closed in t.after. */
export async function client(t: TestContext, port: number, opts: ConnectionOptions = {}): Promise<NatsConnection> {
  const nc = await within(connect({ servers: `${HOST}:${port}`, ...opts }), `nats connect to ${port}`);
  t.after(() => nc.close().catch(() => {}));
  return nc;
}

/** GET a monitoring endpoint as JSON, with its status. */
export async function monitor(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await within(fetch(`http://${HOST}:${port}${path}`), path);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
