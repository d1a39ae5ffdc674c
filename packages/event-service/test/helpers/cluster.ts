// What the cluster-*.test.ts files share: the event service CLI as a child process (a SIGKILL is a real process
// kill) configured as a leaf of a nats-server cluster with `[store] backend = "jetstream"` and HTTP sinks, the
// receivers those sinks post to (each request's webhook-id and event id recorded), and the stored events read back
// through an instance's feed API (GET /events, paged by cursor). The tests judge.
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { logLine, type Run } from '@event-broker/test-support/child';
import { startReceiver, type Receiver } from '@event-broker/test-support/http';
import { HOST } from '@event-broker/test-support/processes';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { pace, until, within } from '@event-broker/test-support/wait';
import { cli } from './cli.js';
import { loopbackListeners } from './loopback-toml.js';

/** A service start on this loaded machine (Node, the leaf link, the stream and consumers created or checked). */
export const START_MS = 30_000;

export interface SinkSpec {
  /** A handler name: feed, cfgingest or event_feed. */
  name: string;
  url: string;
  filter: readonly string[];
}

export interface ServiceCliOptions {
  /** The remote's `urls`, tried in turn. */
  remotes: readonly string[];
  /** `[store]` keys besides backend (replicas, stream, domain...); durations as strings ("4s": a bare number is seconds). */
  store?: Record<string, string | number>;
  sinks?: readonly SinkSpec[];
  /** Deliveries in flight per sink (JetStream's max_ack_pending): order is not what these tests look at. */
  maxInFlight?: number;
  /** More keys of the remote (user, password...). */
  remote?: Record<string, string>;
  /** Sent as `X-Instance` with each delivery, to tell which instance posted it. */
  instance?: string;
}

/** The TOML the CLI is started with. */
export function serviceToml(opts: ServiceCliOptions): string[] {
  const value = (v: string | number) => (typeof v === 'number' ? String(v) : JSON.stringify(v));
  return [
    ...loopbackListeners('service', 'monitor'),
    '[log]',
    'format = "json"',
    'level = "info"',
    '[store]',
    'backend = "jetstream"',
    ...Object.entries(opts.store ?? {}).map(([k, v]) => `${k} = ${value(v)}`),
    ...(opts.sinks === undefined || opts.sinks.length === 0
      ? []
      : [
          '[handlers]',
          ...opts.sinks.map(
            (s) =>
              `${s.name} = { url = ${JSON.stringify(s.url)}, filter = ${JSON.stringify(s.filter)}, ` +
              `max_in_flight = ${opts.maxInFlight ?? 32}, timeout_ms = 5000` +
              (opts.instance === undefined ? '' : `, headers = "X-Instance=${opts.instance}"`) +
              ' }',
          ),
        ]),
    '[[leafnodes.remotes]]',
    `urls = ${JSON.stringify(opts.remotes)}`,
    ...Object.entries(opts.remote ?? {}).map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
  ];
}

export interface ServiceCli {
  readonly run: Run;
  readonly clientPort: number;
  readonly monitorPort: number;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
}

/** Starts the CLI with `opts` (no wait). */
export function spawnService(t: TestContext, opts: ServiceCliOptions): Run {
  const conf = write(tmpDir(t, 'cluster-svc-'), 'service.toml', serviceToml(opts));
  return cli(t, ['--config', conf]);
}

/** Starts the CLI and resolves once it is ready (its store opened, its clients port listening). */
export async function startService(t: TestContext, opts: ServiceCliOptions): Promise<ServiceCli> {
  const run = spawnService(t, opts);
  const monitorPort = (await logLine(run, 'monitoring listener started', { ms: START_MS })).port as number;
  await logLine(run, 'ready', { ms: START_MS });
  // The second such line: the first is the internal port the JetStream store connects to (internal-port.ts).
  const clientPort = (await logLine(run, 'listening for client connections', { n: 2 })).port as number;
  return {
    run,
    clientPort,
    monitorPort,
    async kill() {
      run.child.kill('SIGKILL');
      await within(run.exited, 'the killed service exits', 10_000);
    },
  };
}

/**
 * The lines an instance logged at warn or above (for a failure's message); with CLUSTER_TEST_LOGS=DIR its whole log
 * goes to a file there too.
 */
export function problems(run: Run, max = 20): string {
  const dir = process.env.CLUSTER_TEST_LOGS;
  if (dir !== undefined) fs.writeFileSync(path.join(dir, `event-service-${run.child.pid}.log`), run.stdout());
  const lines = run
    .stdout()
    .split('\n')
    .filter((l) => /"level":(40|50|60)/.test(l));
  return lines.slice(-max).join('\n') + run.stderr();
}

/** A receiver answering 200, with each event id's webhook-ids and each webhook-id's event ids as it saw them. */
export interface SinkReceiver {
  readonly receiver: Receiver;
  /** Event id → the webhook-ids it came under (each delivery counted). */
  readonly byEvent: Map<string, string[]>;
  /** Webhook-id → the event ids posted under it. */
  readonly byWebhookId: Map<string, Set<string>>;
  /** Requests whose body was not one event with an id. */
  readonly unreadable: string[];
  /** Deliveries per X-Instance header. */
  readonly byInstance: Map<string, number>;
}

export async function startSinkReceiver(t: TestContext): Promise<SinkReceiver> {
  const byEvent = new Map<string, string[]>();
  const byWebhookId = new Map<string, Set<string>>();
  const unreadable: string[] = [];
  const byInstance = new Map<string, number>();
  const receiver = await startReceiver(t, {
    status: (_n, d) => {
      const instance = String(d.headers['x-instance']);
      byInstance.set(instance, (byInstance.get(instance) ?? 0) + 1);
      let id: unknown;
      try {
        id = (JSON.parse(d.body) as { id?: unknown }).id;
      } catch {
        id = undefined;
      }
      if (typeof id !== 'string') {
        unreadable.push(d.body.slice(0, 200));
        return 200;
      }
      byEvent.set(id, [...(byEvent.get(id) ?? []), d.id]);
      const ids = byWebhookId.get(d.id) ?? new Set<string>();
      ids.add(id);
      byWebhookId.set(d.id, ids);
      return 200;
    },
  });
  return { receiver, byEvent, byWebhookId, unreadable, byInstance };
}

/**
 * Every event id in the stream, in feed order, read through an instance's feed API (bounded). A page answered 503
 * (the store not usable at that moment) is asked again; `refusals` says how often.
 */
export async function storedIds(monitorPort: number, ms = 30_000): Promise<{ ids: string[]; refusals: string[] }> {
  const ids: string[] = [];
  const refusals: string[] = [];
  const end = Date.now() + ms;
  let cursor = '0';
  for (let page = 0; ; page++) {
    if (Date.now() > end)
      throw new Error(`reading the feed took over ${ms} ms (${ids.length} events, page ${page}): ${refusals.at(-1)}`);
    const res = await within(
      fetch(`http://${HOST}:${monitorPort}/events?limit=1000&cursor=${cursor}`),
      'a feed page',
      15_000,
    );
    const body = (await res.json()) as {
      events?: Array<{ event: { id: string } }>;
      next_cursor?: string;
      more?: boolean;
    };
    if (res.status === 503) {
      refusals.push(JSON.stringify(body));
      await pace(250);
      continue;
    }
    if (res.status !== 200 || body.events === undefined)
      throw new Error(`GET /events: ${res.status} ${JSON.stringify(body)}`);
    ids.push(...body.events.map((e) => e.event.id));
    if (!body.more) return { ids, refusals };
    cursor = body.next_cursor!;
  }
}

/** GET /healthz: its status and body. */
export async function healthz(monitorPort: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await within(fetch(`http://${HOST}:${monitorPort}/healthz`), '/healthz');
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Waits until each sink has every id in its list, naming what is still missing. */
export async function untilDelivered(
  sinks: ReadonlyArray<{ name: string; sink: SinkReceiver; owed: ReadonlySet<string> }>,
  ms: number,
  diagnostic: () => string,
): Promise<void> {
  const missing = () => sinks.map((s) => ({ name: s.name, ids: [...s.owed].filter((id) => !s.sink.byEvent.has(id)) }));
  await until(
    () => missing().every((m) => m.ids.length === 0),
    'every acknowledged event delivered to each sink it is routed to',
    ms,
    () =>
      missing()
        .map((m) => `${m.name}: ${m.ids.length} missing (${m.ids.slice(0, 10).join(', ')})`)
        .join('; ') + `\n${diagnostic()}`,
  );
}
