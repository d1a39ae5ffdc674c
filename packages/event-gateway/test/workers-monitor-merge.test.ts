// monitor-merge.ts on answers as workers write them: every /connz sort applies across the workers (times from their
// RFC 3339 text, rtt from its Go duration text), paging applies to the merged list, counters are summed, a worker
// that did not answer is named and makes /healthz 503.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goDuration, rfc3339 } from '@event-broker/shared';
import {
  goDurationMs,
  mergeConnz,
  mergeHealth,
  mergeSubsz,
  mergeVarz,
  splitAnswers,
  sumDeep,
} from '../src/monitor-merge.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

/** A /connz entry as shared connz.ts writes it. */
function entry(cid: number, n: number, rttMs: number): Record<string, unknown> {
  return {
    cid,
    start: rfc3339(T0 + n * 1000),
    last_activity: rfc3339(T0 + 10_000 - n * 7),
    rtt: goDuration(rttMs),
    pending_bytes: n,
    in_msgs: n * 2,
    out_msgs: 100 - n,
    in_bytes: n * 3,
    out_bytes: 50 - n,
    subscriptions: n % 3,
  };
}

test('connz across workers: each sort orders the merged list as one process would; offset and limit page the whole', () => {
  // Worker 1 holds cids 1, 3, 5; worker 2 cids 2, 4, 6 (interleaved cid spaces).
  const rtts = [0.5, 3, 0.0004, 1500, 12, 0.9];
  const all = [1, 2, 3, 4, 5, 6].map((cid) => entry(cid, (cid * 5) % 7, rtts[cid - 1]!));
  const answers = splitAnswers([
    { worker: 1, pid: 11, body: { total: 3, connections: all.filter((c) => (c.cid as number) % 2 === 1) } },
    { worker: 2, pid: 12, body: { total: 3, connections: all.filter((c) => (c.cid as number) % 2 === 0) } },
  ]);
  const expect = (sort: string, key: (c: Record<string, unknown>) => number, dir: 1 | -1) =>
    [...all].sort((a, b) => (a.cid as number) - (b.cid as number)).sort((a, b) => dir * (key(a) - key(b)));
  const cases: [string, (c: Record<string, unknown>) => number, 1 | -1][] = [
    ['cid', (c) => c.cid as number, 1],
    ['start', (c) => Date.parse(c.start as string), 1],
    ['subs', (c) => c.subscriptions as number, -1],
    ['pending', (c) => c.pending_bytes as number, -1],
    ['msgs_to', (c) => c.out_msgs as number, -1],
    ['msgs_from', (c) => c.in_msgs as number, -1],
    ['bytes_to', (c) => c.out_bytes as number, -1],
    ['bytes_from', (c) => c.in_bytes as number, -1],
    ['last', (c) => Date.parse(c.last_activity as string), -1],
    ['idle', (c) => -Date.parse(c.last_activity as string), -1],
    ['uptime', (c) => -Date.parse(c.start as string), -1],
    ['rtt', (c) => rtts[(c.cid as number) - 1]!, -1],
  ];
  for (const [sort, key, dir] of cases) {
    const merged = mergeConnz(answers, sort, { offset: 0, limit: 10 }, 'GW');
    assert.deepEqual(
      (merged.connections as { cid: number }[]).map((c) => c.cid),
      expect(sort, key, dir).map((c) => c.cid),
      `sort=${sort}`,
    );
  }
  const page = mergeConnz(answers, 'cid', { offset: 2, limit: 3 }, 'GW');
  assert.deepEqual(
    (page.connections as { cid: number }[]).map((c) => c.cid),
    [3, 4, 5],
  );
  assert.deepEqual([page.total, page.num_connections, page.offset, page.limit, page.server_id], [6, 3, 2, 3, 'GW']);
});

test('goDurationMs reads what goDuration writes', () => {
  for (const ms of [0, 0.0004, 0.85, 3.463, 999, 1500, 59_000]) {
    assert.ok(Math.abs(goDurationMs(goDuration(ms)) - ms) < 1e-6, `${ms} ms as ${goDuration(ms)}`);
  }
  assert.equal(goDurationMs('nonsense'), 0);
});

test('varz and subsz sum the workers; a worker that did not answer is listed with why; healthz 503 names it', () => {
  const w = (n: number) => ({
    server_id: `W${n}`,
    connections: n,
    total_connections: 10 * n,
    in_msgs: 5,
    subscriptions: 2,
    leafnodes: 1,
    cpu: 1.5,
    mem: 1000,
    upstream: { urls: ['tls://a:1'], up: true, state: 'up', in_msgs: n },
    auth_failures: { token_invalid: n },
    event_credit: { active: true, held: n },
  });
  const answers = splitAnswers<Record<string, unknown>>([
    { worker: 1, pid: 11, body: w(1) },
    { worker: 2, pid: 12, body: w(2) },
    { worker: 3, error: 'no answer within 2000 ms' },
  ]);
  const varz = mergeVarz(answers, {
    serverId: 'GW',
    serverName: 'gw',
    maxConnections: 300,
    startedAt: new Date(T0),
    configLoadedAt: new Date(T0),
    http: { host: '127.0.0.1', port: 8222, reqStats: { '/varz': 1 } },
    cpu: 0.5,
    mem: 500,
  });
  assert.deepEqual(
    [varz.server_id, varz.connections, varz.total_connections, varz.in_msgs, varz.leafnodes, varz.cpu, varz.mem],
    ['GW', 3, 30, 10, 2, 3.5, 2500],
  );
  assert.deepEqual(varz.upstream, { urls: ['tls://a:1'], up: true, state: 'up', in_msgs: 3, links_up: 2 });
  assert.deepEqual(varz.auth_failures, { token_invalid: 3 });
  assert.deepEqual(varz.event_credit, { active: true, held: 3 });
  assert.deepEqual(
    (varz.workers as { worker: number; error?: string }[]).map((x) => [x.worker, x.error]),
    [
      [1, undefined],
      [2, undefined],
      [3, 'no answer within 2000 ms'],
    ],
  );

  const stats = (subs: number, matches: number, rate: number) => ({
    num_subscriptions: subs,
    num_cache: 2,
    num_inserts: subs,
    num_removes: 0,
    num_matches: matches,
    cache_hit_rate: rate,
    max_fanout: subs,
    avg_fanout: 1,
  });
  const subsz = mergeSubsz(
    splitAnswers([
      { worker: 1, pid: 1, body: stats(3, 10, 0.5) },
      { worker: 2, pid: 2, body: stats(5, 30, 1) },
    ]),
    undefined,
    'GW',
  );
  assert.deepEqual(subsz, {
    num_subscriptions: 8,
    num_cache: 4,
    num_inserts: 8,
    num_removes: 0,
    num_matches: 40,
    cache_hit_rate: 0.875,
    max_fanout: 5,
    avg_fanout: 1,
  });

  const ok: { httpStatus: number; body: Record<string, unknown> } = {
    httpStatus: 200,
    body: { status: 'ok', check: 'round-trip' },
  };
  const healthy = mergeHealth(splitAnswers([{ worker: 1, pid: 1, body: ok }]));
  assert.equal(healthy.httpStatus, 200);
  const sick = mergeHealth(
    splitAnswers([
      { worker: 1, pid: 1, body: ok },
      { worker: 2, pid: 2, body: { httpStatus: 503, body: { status: 'unavailable', error: 'upstream link down' } } },
      { worker: 3, error: 'not running (being replaced)' },
    ]),
  );
  assert.equal(sick.httpStatus, 503);
  assert.equal(sick.body.error, 'worker 2: upstream link down; worker 3: not running (being replaced)');
});

test('sumDeep: numbers summed, booleans true only when true everywhere, the rest the first', () => {
  assert.deepEqual(
    sumDeep([
      { a: 1, b: true, c: 'x', d: { e: 2 } },
      { a: 2, b: false, c: 'y', d: { e: 3 } },
    ]),
    {
      a: 3,
      b: false,
      c: 'x',
      d: { e: 5 },
    },
  );
});
