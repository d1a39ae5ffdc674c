// The node generator's scale modes: many idle connections (conns, the server's RSS read by main.ts between the
// ready lines) and a large interest graph (subs).
import readline from 'node:readline';
import type { Args } from './loadgen-args.js';
import { RawConn } from './loadgen-conn.js';
import { cpuFields, ms, now, out, waitCount } from './loadgen-measure.js';
import { FrameCycle, payload } from './loadgen-publish.js';

export async function runConns(a: Args): Promise<void> {
  const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const waitLine = async () => {
    await lines.next();
  };
  // With sub=1 each connection subscribes to a subject of its own (nothing is published there).
  const open = async (i: number): Promise<RawConn> => {
    const c = await RawConn.open(a.port);
    if (!a.sub) return c;
    c.sock.write(`SUB bench.idle.${i} 1\r\n`);
    await c.flush();
    return c;
  };
  const conns: RawConn[] = [await open(0)];
  out({ event: 'ready', phase: 'base', conns: 1 });
  await waitLine();
  out({ event: 'window', phase: 'start' });
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const deadline = t0 + ms(a.capMs);
  let opened = 0;
  // Batches of 100, each handshake complete before the next: a backlog overflow would add 1 s SYN retries.
  while (opened < a.conns && now() < deadline) {
    const b = Math.min(100, a.conns - opened);
    conns.push(...(await Promise.all(Array.from({ length: b }, (_, i) => open(1 + opened + i)))));
    opened += b;
  }
  const t1 = now();
  out({ event: 'window', phase: 'end' });
  out({ event: 'ready', phase: 'full', conns: opened + 1 });
  await waitLine();
  const closed = conns.filter((c) => c.sock.destroyed || c.sock.readyState !== 'open').length;
  const capped = opened < a.conns;
  const subscriptions = a.sub ? opened + 1 : 0;
  out({
    ...cpuFields(cpu0, t0, t1),
    mode: 'conns',
    opened,
    requested: a.conns,
    closed_by_server: closed,
    capped,
    subscriptions,
  });
  for (const c of conns) c.sock.destroy();
}

/**
 * A large interest graph: `subs` connections each subscribe once to each of `subjects` subjects, 3 in 10 SUBs with
 * a wildcard, each form reaching exactly one published subject; one publisher cycles through the subjects in a
 * fixed shuffled order. Same subjects, forms and order as native/loadgen.c run_subs (its comment says why).
 */
function subsPattern(s: number, c: number): string {
  const ab = `${Math.floor(s / 100)}.${s % 100}`;
  switch ((s + c) % 10) {
    case 0:
      return `sub.${ab}.*`;
    case 1:
      return `sub.${ab}.>`;
    case 2:
      return `*.${ab}.ev`;
    default:
      return `sub.${ab}.ev`;
  }
}

/** Fisher-Yates with xorshift64 from a fixed seed, as loadgen.c: the same order for both servers. */
function shuffledSubjects(n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let x = 0x9e3779b97f4a7c15n;
  const mask = (1n << 64n) - 1n;
  for (let i = n - 1; i > 0; i--) {
    x ^= (x << 13n) & mask;
    x ^= x >> 7n;
    x ^= (x << 17n) & mask;
    const j = Number(x % BigInt(i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

export async function runSubs(a: Args): Promise<void> {
  const subs: RawConn[] = [];
  let wild = 0;
  // ready=1: a ready line (and a wait for one on stdin) once the connections are open and again after the SUB
  // storm, so the caller reads the server's RSS without subscriptions and with them.
  const stdin = a.ready ? readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]() : undefined;
  const pause = async (fields: Record<string, unknown>) => {
    if (!stdin) return;
    out({ event: 'ready', ...fields });
    await stdin.next();
  };
  let s0 = now();
  for (let c = 0; c < a.subs; c++) subs.push(await RawConn.open(a.port));
  if (a.ready) {
    await pause({ phase: 'base', conns: a.subs });
    s0 = now();
  }
  await Promise.all(
    subs.map((conn, c) => {
      const lines: string[] = [];
      for (let s = 0; s < a.subjects; s++) {
        if ((s + c) % 10 < 3) wild++;
        lines.push(`SUB ${subsPattern(s, c)} ${s + 1}\r\n`);
      }
      conn.sock.write(lines.join(''));
      return conn.flush();
    }),
  );
  const setupNs = Number(now() - s0);
  for (const c of subs) if (c.error) throw new Error(c.error);
  await pause({ phase: 'full', subscriptions: a.subjects * a.subs });
  const pub = await RawConn.open(a.port);
  const tail = Buffer.concat([payload(a.size), Buffer.from('\r\n')]);
  const cycle = new FrameCycle(
    shuffledSubjects(a.subjects).map((s) =>
      Buffer.concat([Buffer.from(`PUB sub.${Math.floor(s / 100)}.${s % 100}.ev ${a.size}\r\n`), tail]),
    ),
  );
  const perMsg = a.subs;
  const delivered = () => subs.reduce((n, s) => n + s.msgs, 0);

  const warm = await cycle.send(pub, a.warmup, now() + ms(a.capMs));
  await pub.flush();
  await waitCount(delivered, warm * perMsg);
  const base = delivered();
  out({ event: 'window', phase: 'start' });
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const sent = await cycle.send(pub, a.count, t0 + ms(a.capMs));
  await pub.flush();
  const expected = sent * perMsg;
  const t1 = await waitCount(delivered, base + expected);
  out({ event: 'window', phase: 'end' });
  const got = delivered() - base;
  out({
    ...cpuFields(cpu0, t0, t1),
    mode: 'subs',
    sent,
    received: got,
    expected,
    lost: expected - got,
    capped: sent < a.count,
    size: a.size,
    subs: a.subs,
    subjects: a.subjects,
    subscriptions: a.subjects * a.subs,
    wildcard_subscriptions: wild,
    setup_ns: setupNs,
    warmup_lost: warm * perMsg - base,
  });
  for (const c of [pub, ...subs]) c.sock.destroy();
}
