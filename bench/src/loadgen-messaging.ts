// The node generator's message modes: publish-only (pub), one publisher to subscribers or a queue group, across
// two servers with pub_port= (fanout), and sequential request/reply latency (reqrep).
import type { Args } from './loadgen-args.js';
import { RawConn } from './loadgen-conn.js';
import { cpuFields, ms, now, out, sleep, waitCount } from './loadgen-measure.js';
import { payload, publish } from './loadgen-publish.js';

export async function runPub(a: Args): Promise<void> {
  const c = await RawConn.open(a.port);
  await publish(c, 'bench.pub', a.size, a.warmup, now() + ms(a.capMs));
  await c.flush();
  out({ event: 'window', phase: 'start' });
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const sent = await publish(c, 'bench.pub', a.size, a.count, t0 + ms(a.capMs));
  await c.flush();
  const t1 = now();
  out({ event: 'window', phase: 'end' });
  out({ ...cpuFields(cpu0, t0, t1), mode: 'pub', sent, capped: sent < a.count, size: a.size });
  c.sock.destroy();
}

/**
 * pub_port=: the subscribers' interest has to cross a link before a publish reaches them, and nothing tells the
 * publisher when it has. One message at a time until one arrives (10 s at most), then a pause for probes still in
 * flight; returns the deliveries so far (loadgen.c await_interest).
 */
async function awaitInterest(pub: RawConn, subject: string, size: number, delivered: () => number): Promise<number> {
  const deadline = now() + ms(10_000);
  while (delivered() === 0) {
    if (now() > deadline) throw new Error('probe: no message crossed to the subscribers within 10 s');
    await publish(pub, subject, size, 1, deadline);
    await pub.flush();
    for (let i = 0; i < 50 && delivered() === 0; i++) await sleep(1);
  }
  await sleep(200);
  return delivered();
}

export async function runFanout(a: Args): Promise<void> {
  const subject = a.queue ? 'bench.queue' : 'bench.fanout';
  const subs: RawConn[] = [];
  for (let i = 0; i < a.subs; i++) {
    const s = await RawConn.open(a.port);
    s.sock.write(a.queue ? `SUB ${subject} workers 1\r\n` : `SUB ${subject} 1\r\n`);
    await s.flush();
    subs.push(s);
  }
  const pub = !a.pubPort
    ? await RawConn.open(a.port)
    : a.tlsCa === undefined
      ? await RawConn.open(a.pubPort)
      : await RawConn.openTls(a.pubPort, {
          ca: a.tlsCa,
          ...(a.tlsCert !== undefined && { cert: a.tlsCert }),
          ...(a.tlsKey !== undefined && { key: a.tlsKey }),
          ...(a.token !== undefined && { token: a.token }),
        });
  const perMsg = a.queue ? 1 : a.subs;
  const delivered = () => subs.reduce((n, s) => n + s.msgs, 0);
  const waitDelivered = (target: number) => waitCount(delivered, target);
  const base0 = a.pubPort ? await awaitInterest(pub, subject, a.size, delivered) : 0;

  const warm = await publish(pub, subject, a.size, a.warmup, now() + ms(a.capMs));
  await pub.flush();
  await waitDelivered(base0 + warm * perMsg);
  const base = delivered();
  out({ event: 'window', phase: 'start' });
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const sent = await publish(pub, subject, a.size, a.count, t0 + ms(a.capMs));
  await pub.flush();
  const expected = sent * perMsg;
  const t1 = await waitDelivered(base + expected);
  out({ event: 'window', phase: 'end' });
  const got = delivered() - base;
  const per = subs.map((s) => s.msgs);
  out({
    ...cpuFields(cpu0, t0, t1),
    mode: 'fanout',
    sent,
    received: got,
    expected,
    lost: expected - got,
    capped: sent < a.count,
    size: a.size,
    subs: a.subs,
    queue: a.queue,
    per_sub_min: Math.min(...per),
    per_sub_max: Math.max(...per),
    warmup_lost: base0 + warm * perMsg - base,
    publisher: a.tlsCa === undefined ? 'raw' : 'raw-tls',
  });
  for (const c of [pub, ...subs]) c.sock.destroy();
}

export async function runReqrep(a: Args): Promise<void> {
  const data = payload(a.size);
  const tail = Buffer.concat([data, Buffer.from('\r\n')]);
  const responder = await RawConn.open(a.port);
  responder.onMsg = (line) => {
    // MSG bench.req <sid> <reply> <size>
    const parts = line.split(' ');
    if (parts.length === 5) responder.sock.write(Buffer.concat([Buffer.from(`PUB ${parts[3]} ${a.size}\r\n`), tail]));
  };
  responder.sock.write('SUB bench.req 1\r\n');
  await responder.flush();

  const requester = await RawConn.open(a.port);
  const inbox = `_INBOX.bench.${process.pid}`;
  let wake: (() => void) | undefined;
  requester.onMsg = () => wake?.();
  requester.sock.write(`SUB ${inbox} 1\r\n`);
  await requester.flush();
  const request = Buffer.concat([Buffer.from(`PUB bench.req ${inbox} ${a.size}\r\n`), tail]);
  let timeouts = 0;

  async function once(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const got = new Promise<boolean>((resolve) => {
      wake = () => resolve(true);
      timer = setTimeout(() => resolve(false), 5000);
    });
    requester.sock.write(request);
    const ok = await got;
    clearTimeout(timer);
    wake = undefined;
    if (!ok) timeouts++;
    return ok;
  }

  let deadline = now() + ms(a.capMs);
  for (let i = 0; i < a.warmup && now() < deadline; i++) await once();
  const lat: number[] = [];
  out({ event: 'window', phase: 'start' });
  const cpu0 = process.cpuUsage();
  const t0 = now();
  deadline = t0 + ms(a.capMs);
  while (lat.length < a.count && now() < deadline) {
    const s = now();
    if (await once()) lat.push(Number(now() - s) / 1e3);
  }
  const t1 = now();
  out({ event: 'window', phase: 'end' });
  if (lat.length === 0) throw new Error('no request completed');
  lat.sort((x, y) => x - y);
  const n = lat.length;
  const pick = (p: number) => lat[Math.floor(((n - 1) * p) / 1000)]!;
  out({
    ...cpuFields(cpu0, t0, t1),
    mode: 'reqrep',
    requests: n,
    timeouts,
    capped: n < a.count,
    size: a.size,
    p50_us: pick(500),
    p90_us: pick(900),
    p99_us: pick(990),
    p999_us: pick(999),
    max_us: lat[n - 1],
    mean_us: lat.reduce((x, y) => x + y, 0) / n,
  });
  responder.sock.destroy();
  requester.sock.destroy();
}
