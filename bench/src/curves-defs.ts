// The cost curves `pnpm bench --curves` draws (curves.ts runs them): which load each point applies, through the
// existing generator modes (subs, conns, fanout), and which figures each curve yields, one chart per figure.
import type { GenResult } from './gen-result.js';
import type { GenSpec } from './load-spec.js';
import { formatSi } from './chart.js';

/** What a point yields: the generator's result, the server's RSS at the ready phases and its CPU over the window. */
export interface Measured extends GenResult {
  rss_base_kib?: number;
  rss_full_kib?: number;
  server_cpu_s?: number;
}

export interface CurvePoint {
  x: number;
  spec: GenSpec;
  /** Settings only our service has (listener_limit), merged into its [service] section. */
  ours?: Record<string, unknown>;
}

export interface CurveFigure {
  /** bench/curves/<file>.svg */
  file: string;
  title: string;
  /** The y axis label, unit included. */
  yLabel: string;
  unit: string;
  better: 'higher' | 'lower';
  yLog?: boolean;
  value: (m: Measured) => number;
  format: (v: number) => string;
  /** Show each server's CPU per published message beside the figure (throughput figures). */
  cpu?: boolean;
}

export interface Curve {
  /** The name `--scenario` picks it by with --curves; bench/curves/<name>.json holds its last run. */
  name: string;
  heading: string;
  /** What the load is, for RESULTS.md. */
  about: string;
  xLabel: string;
  xFormat: (v: number) => string;
  points: (quick: boolean) => CurvePoint[];
  figures: CurveFigure[];
  /** A result that is wrong, not slow (a lost message, an idle connection closed): the run's exit code is 1. */
  check: (m: Measured) => string | undefined;
}

const seconds = (m: Measured) => m.window_ns / 1e9;
const delivered = (m: Measured) => (m.received ?? NaN) / seconds(m);
const fixed = (digits: number) => (v: number) => v.toFixed(digits);
const noLoss = (m: Measured) => ((m.lost ?? 0) > 0 ? `lost ${m.lost} of ${m.expected} messages` : undefined);

/** 16 B, 4 KiB, 1 MiB. */
export function formatBytes(v: number): string {
  if (v >= 1 << 20 && v % (1 << 20) === 0) return `${v / (1 << 20)} MiB`;
  if (v >= 1024 && v % 1024 === 0) return `${v / 1024} KiB`;
  return `${v} B`;
}

const q = (quick: boolean, n: number) => (quick ? Math.max(1, Math.round(n / 5)) : n);
const capMs = (quick: boolean) => (quick ? 2000 : 5000);

// 10 connections, each subscribing once to each of n/10 subjects: the `subs` mode of subs-100k (its comment in
// native/loadgen.c says why the shape), scaled. ready=1 pauses it before and after the SUB storm for the RSS readings.
const SUBS_CONNS = 10;

export const subsCurve: Curve = {
  name: 'subs',
  heading: 'Subscriptions',
  about:
    `${SUBS_CONNS} connections each subscribe once to each of N/${SUBS_CONNS} subjects (30 % of the SUBs with a ` +
    'wildcard, the `subs-100k` shape), then one publisher cycles through the subjects, 16 B payloads, every publish ' +
    `delivered ${SUBS_CONNS} times. Memory: the server's VmRSS with the ${SUBS_CONNS} connections open and no ` +
    'subscription, then after the SUB storm, the difference over N (each reading once VmRSS stops moving: five ' +
    'readings 100 ms apart within 128 KiB, at most 10 s). With 10,000 subscriptions or fewer the 1,000 subjects ' +
    'fit both servers’ 1,024-entry match caches; from 100,000 on nearly every publish misses them. At 1,000 and ' +
    '10,000 the difference is small beside what a process already holds and reuses (heap pages V8 or Go had ' +
    'touched before), so read those points as coarse and the 100,000 and 1,000,000 ones as the cost per ' +
    'subscription. A third chart gives the time from the first SUB to the PONG after the last, on all ' +
    `${SUBS_CONNS} connections.`,
  xLabel: 'subscriptions',
  xFormat: formatSi,
  points: (quick) =>
    (quick ? [1_000, 10_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000]).map((n) => ({
      x: n,
      spec: {
        mode: 'subs',
        size: 16,
        subs: SUBS_CONNS,
        subjects: n / SUBS_CONNS,
        // 600,000 publishes while the match caches hold (~2 s at 3 M deliveries/s), 150,000 once they miss.
        count: q(quick, n <= 10_000 ? 600_000 : 150_000),
        warmup: q(quick, 20_000),
        // The SUB storm of a million takes seconds; the generator's hard limit grows with the cap (generators.ts).
        capMs: n >= 1_000_000 ? 10_000 : capMs(quick),
        ready: true,
      },
      // listener_limit (default 10,000) bounds subscriptions service-wide; nats-server has no such limit.
      ours: { listener_limit: Math.max(200_000, 2 * n) },
    })),
  figures: [
    {
      file: 'subs-rss',
      title: 'Server memory per subscription',
      yLabel: 'RSS per subscription (bytes)',
      unit: 'B/sub',
      better: 'lower',
      value: (m) => (((m.rss_full_kib ?? NaN) - (m.rss_base_kib ?? NaN)) * 1024) / (m.subscriptions ?? NaN),
      format: fixed(0),
    },
    {
      file: 'subs-rate',
      title: 'Delivery rate as subscriptions grow',
      yLabel: 'delivered msgs/s',
      unit: 'msgs/s',
      better: 'higher',
      value: delivered,
      format: formatSi,
      cpu: true,
    },
    {
      file: 'subs-setup',
      title: 'Time to register the subscriptions (SUB storm → PONG)',
      yLabel: 'ms',
      unit: 'ms',
      better: 'lower',
      yLog: true,
      value: (m) => (m.setup_ns ?? NaN) / 1e6,
      format: fixed(0),
    },
  ],
  check: noLoss,
};

// The `conns` mode with sub=1, as idle-10k: each connection holds one SUB of its own subject. The top point stays
// under the hard `ulimit -n` of 20,000 here (the generator needs conns + 64 descriptors).
export const connsCurve: Curve = {
  name: 'conns',
  heading: 'Idle connections',
  about:
    'The generator opens one connection, the server’s VmRSS is read, then it opens N more in batches of 100 (each ' +
    'CONNECT, `SUB bench.idle.<i> 1`, PING answered before the next batch) and VmRSS is read again once it stops ' +
    'moving: the difference over N. The top point is 19,900: the hard `ulimit -n` here is 20,000 and the generator needs ' +
    'N + 64 descriptors.',
  xLabel: 'idle connections (1 SUB each)',
  xFormat: formatSi,
  points: (quick) =>
    (quick ? [1_000, 2_000, 5_000] : [1_000, 2_000, 5_000, 10_000, 19_900]).map((n) => ({
      x: n,
      // 20,000 connections took ours 3 s idle but over 60 s at load average 12 (2026-12-05): 120 s.
      spec: { mode: 'conns', conns: n, sub: true, capMs: 120_000 },
      ours: { listener_limit: 40_000 },
    })),
  figures: [
    {
      file: 'conns-rss',
      title: 'Server memory per idle connection',
      yLabel: 'RSS per connection (KiB)',
      unit: 'KiB/conn',
      better: 'lower',
      value: (m) => ((m.rss_full_kib ?? NaN) - (m.rss_base_kib ?? NaN)) / (m.opened ?? NaN),
      format: fixed(1),
    },
  ],
  check: (m) => ((m.closed_by_server ?? 0) > 0 ? `server closed ${m.closed_by_server} idle connection(s)` : undefined),
};

// Messages per point: about 1-2 s of work for either server at that size, so the 5 s cap is rarely what ends it.
const PAYLOAD_COUNTS: Array<[number, number]> = [
  [16, 3_000_000],
  [256, 2_000_000],
  [4096, 400_000],
  [65_536, 10_000],
  [1 << 20, 600],
];

export const payloadCurve: Curve = {
  name: 'payload',
  heading: 'Payload size',
  about:
    'One publisher, one subscriber (the `pubsub` load) at each payload size; max_payload is 1 MiB on both servers, ' +
    'so the top point is the largest message either accepts. Counts per size run each server about 1-2 s.',
  xLabel: 'payload size',
  xFormat: formatBytes,
  points: (quick) =>
    PAYLOAD_COUNTS.filter(([size]) => !quick || size <= 65_536).map(([size, count]) => ({
      x: size,
      spec: {
        mode: 'fanout',
        subs: 1,
        size,
        count: q(quick, count),
        warmup: q(quick, Math.max(1, count / 10)),
        capMs: capMs(quick),
      },
    })),
  figures: [
    {
      file: 'payload-rate',
      title: 'Messages per second by payload size (1→1)',
      yLabel: 'received msgs/s',
      unit: 'msgs/s',
      better: 'higher',
      yLog: true,
      value: delivered,
      format: formatSi,
      cpu: true,
    },
    {
      file: 'payload-mbs',
      title: 'Payload bytes per second by payload size (1→1)',
      yLabel: 'received MB/s (payload only)',
      unit: 'MB/s',
      better: 'higher',
      value: (m) => ((m.received ?? NaN) * (m.size ?? NaN)) / 1e6 / seconds(m),
      format: fixed(0),
    },
  ],
  check: noLoss,
};

// Deliveries per point kept at 6 M (publishes = 6 M / subscribers), so each point is about as much work.
const FANOUT_DELIVERIES = 6_000_000;

export const fanoutCurve: Curve = {
  name: 'fanout',
  heading: 'Fan-out',
  about:
    'One publisher, N subscriber connections on one subject (the `fanout` load), 128 B payloads, ' +
    `${formatSi(FANOUT_DELIVERIES)} deliveries per point (${formatSi(FANOUT_DELIVERIES)} / N publishes).`,
  xLabel: 'subscribers',
  xFormat: formatSi,
  points: (quick) =>
    (quick ? [1, 4, 16] : [1, 4, 16, 64]).map((n) => ({
      x: n,
      spec: {
        mode: 'fanout',
        subs: n,
        size: 128,
        count: q(quick, FANOUT_DELIVERIES / n),
        warmup: q(quick, FANOUT_DELIVERIES / n / 10),
        capMs: capMs(quick),
      },
    })),
  figures: [
    {
      file: 'fanout-rate',
      title: 'Deliveries per second by fan-out (128 B)',
      yLabel: 'delivered msgs/s',
      unit: 'msgs/s',
      better: 'higher',
      value: delivered,
      format: formatSi,
      cpu: true,
    },
  ],
  check: noLoss,
};

/** Every curve, in the order a run takes them and RESULTS.md shows them. */
export const CURVES: Curve[] = [subsCurve, connsCurve, payloadCurve, fanoutCurve];

/** The curves `names` pick (all when empty); an unknown name is an error that lists the known ones. */
export function pickCurves(names: string[]): Curve[] {
  for (const n of names) {
    if (!CURVES.some((c) => c.name === n)) {
      throw new Error(`unknown curve ${n} (with --curves, --scenario takes ${CURVES.map((c) => c.name).join(', ')})`);
    }
  }
  return CURVES.filter((c) => names.length === 0 || names.includes(c.name));
}
