// Fallback load generator when the native one (native/loadgen.c) cannot be built: same modes, arguments and JSON
// output, over raw sockets. Publishers write prebuilt PUB frames in big chunks; readers count MSG frames by
// skipping each payload by its declared size, without parsing subjects: the same method as the native raw client,
// in one thread. The report's generator-CPU column shows whether it kept up (near 100% of a core: it did not).
//   node node-loadgen.js <pub|fanout|reqrep|conns|subs> port=<p> [size= count= warmup= cap_ms= subs= queue= conns=
//                        sub= subjects= pub_port= tls_ca= tls_cert= tls_key= token_file=]
// fanout with pub_port=: the publisher connects there (over TLS with tls_ca=, presenting tls_cert/tls_key, the
// token_file's token in CONNECT) and probes until a message reaches the subscribers on port=, as loadgen.c does.
import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import tls from 'node:tls';
import type { GenMode } from './load-spec.js';

const GENERATOR = 'node-raw';
const STALL_MS = 2000;
const DRAIN_MS = 10_000;
const CHUNK_BYTES = 256 * 1024;
const CONNECT =
  'CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"name":"bench","lang":"node-raw",' +
  '"version":"1.0.0","protocol":1,"headers":false,"no_responders":false}\r\n';

interface Args {
  mode: GenMode;
  port: number;
  size: number;
  count: number;
  warmup: number;
  capMs: number;
  subs: number;
  queue: boolean;
  conns: number;
  /** conns: one SUB per connection. */
  sub: boolean;
  /** subs: distinct published subjects. */
  subjects: number;
  /** fanout: the publisher's server, when not `port`; TLS to it with `tlsCa` (and a client certificate). */
  pubPort: number;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** CONNECT's auth_token, read from token_file= (not argv: ps shows argv). */
  token?: string;
}

let disconnects = 0;

function parseArgs(argv: string[]): Args {
  const a: Args = {
    mode: argv[0] as GenMode,
    port: 0,
    size: 16,
    count: 100_000,
    warmup: 10_000,
    capMs: 5000,
    subs: 1,
    queue: false,
    conns: 1000,
    sub: false,
    subjects: 10_000,
    pubPort: 0,
  };
  for (const kv of argv.slice(1)) {
    const [k, v] = kv.split('=');
    const n = Number(v);
    if (k === 'port') a.port = n;
    else if (k === 'size') a.size = n;
    else if (k === 'count') a.count = n;
    else if (k === 'warmup') a.warmup = n;
    else if (k === 'cap_ms') a.capMs = n;
    else if (k === 'subs') a.subs = n;
    else if (k === 'queue') a.queue = n === 1;
    else if (k === 'conns') a.conns = n;
    else if (k === 'sub') a.sub = n === 1;
    else if (k === 'subjects') a.subjects = n;
    else if (k === 'pub_port') a.pubPort = n;
    else if (k === 'tls_ca') a.tlsCa = v;
    else if (k === 'tls_cert') a.tlsCert = v;
    else if (k === 'tls_key') a.tlsKey = v;
    else if (k === 'token_file') a.token = fs.readFileSync(v ?? '', 'utf8').trimEnd();
    else throw new Error(`unknown argument ${kv}`);
  }
  if (!a.port) throw new Error('port= is required');
  return a;
}

const now = () => process.hrtime.bigint();
const ms = (n: number) => BigInt(Math.round(n)) * 1_000_000n;
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

function out(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** A raw NATS connection: handshake, PING/PONG flushes, and a MSG counter that skips payloads by size. */
class RawConn {
  msgs = 0;
  error: string | undefined;
  private skip = 0;
  private partial: Buffer | undefined;
  private pongs: Array<() => void> = [];
  onMsg: ((line: string) => void) | undefined;

  private constructor(readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.feed(d));
    sock.on('close', () => {
      disconnects++;
      for (const p of this.pongs.splice(0)) p();
    });
    sock.on('error', (e) => {
      this.error ??= e.message;
    });
  }

  static async open(port: number): Promise<RawConn> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new RawConn(sock);
    sock.write(CONNECT);
    await c.flush();
    if (c.error) throw new Error(c.error);
    return c;
  }

  /** As nats-server 2.9 clients do: the plaintext INFO line, then the TLS upgrade, then CONNECT with the token. */
  static async openTls(port: number, t: { ca: string; cert?: string; key?: string; token?: string }): Promise<RawConn> {
    const plain = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      let info = '';
      plain.once('error', reject);
      plain.on('data', function onInfo(d: Buffer) {
        info += d.toString('latin1');
        if (!info.includes('\r\n')) return;
        plain.off('data', onInfo);
        resolve();
      });
    });
    const sock = tls.connect({
      socket: plain,
      ca: fs.readFileSync(t.ca),
      ...(t.cert !== undefined && { cert: fs.readFileSync(t.cert) }),
      ...(t.key !== undefined && { key: fs.readFileSync(t.key) }),
      servername: 'localhost',
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve);
      sock.once('error', reject);
    });
    const c = new RawConn(sock);
    const connect = {
      verbose: false,
      pedantic: false,
      tls_required: true,
      name: 'bench',
      lang: GENERATOR,
      version: '1.0.0',
      protocol: 1,
      headers: false,
      no_responders: false,
      ...(t.token !== undefined && { auth_token: t.token }),
    };
    sock.write(`CONNECT ${JSON.stringify(connect)}\r\n`);
    await c.flush();
    if (c.error) throw new Error(c.error);
    return c;
  }

  /** PING, resolved by the PONG: everything sent before it has been processed. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.pongs.push(resolve);
      this.sock.write('PING\r\n');
    });
  }

  write(b: Buffer | string): Promise<void> {
    if (this.sock.write(b)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.sock.off('close', done);
        this.sock.off('drain', done);
        resolve();
      };
      this.sock.once('drain', done);
      this.sock.once('close', done);
    });
  }

  private feed(chunk: Buffer): void {
    let buf = chunk;
    let i = 0;
    if (this.skip > 0) {
      if (this.skip >= buf.length) {
        this.skip -= buf.length;
        return;
      }
      i = this.skip;
      this.skip = 0;
    }
    if (this.partial) {
      buf = Buffer.concat([this.partial, buf.subarray(i)]);
      this.partial = undefined;
      i = 0;
    }
    const len = buf.length;
    while (i < len) {
      const eol = buf.indexOf(10, i);
      if (eol < 0) {
        this.partial = buf.subarray(i);
        return;
      }
      if (buf[i] === 77 /* M: MSG <subject> <sid> [reply] <size>\r\n */) {
        let j = eol - 2;
        let size = 0;
        for (let mul = 1; buf[j] !== 32; j--, mul *= 10) size += (buf[j]! - 48) * mul;
        this.msgs++;
        if (this.onMsg) this.onMsg(buf.toString('latin1', i, eol - 1));
        const next = eol + 1 + size + 2;
        if (next > len) {
          this.skip = next - len;
          return;
        }
        i = next;
      } else {
        this.control(buf, i, eol);
        i = eol + 1;
      }
    }
  }

  private control(buf: Buffer, i: number, eol: number): void {
    const c0 = buf[i];
    const c1 = buf[i + 1];
    if (c0 === 80 && c1 === 73)
      this.sock.write('PONG\r\n'); // PING
    else if (c0 === 80 && c1 === 79)
      this.pongs.shift()?.(); // PONG
    else if (c0 === 45) this.error ??= buf.toString('latin1', i, eol - 1); // -ERR
    // INFO and +OK: nothing to do.
  }
}

function payload(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = 97 + (i % 26);
  return b;
}

/** `count` PUB frames in chunks of ~256 KiB, written as the socket drains; stops early at the deadline. */
async function publish(c: RawConn, subject: string, size: number, count: number, deadline: bigint): Promise<number> {
  const frame = Buffer.concat([Buffer.from(`PUB ${subject} ${size}\r\n`), payload(size), Buffer.from('\r\n')]);
  const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / frame.length));
  const chunk = Buffer.concat(Array.from({ length: perChunk }, () => frame));
  let sent = 0;
  while (sent < count && now() < deadline) {
    const n = Math.min(perChunk, count - sent);
    await c.write(n === perChunk ? chunk : chunk.subarray(0, n * frame.length));
    sent += n;
    if (c.error) throw new Error(c.error);
  }
  return sent;
}

/** Frames to different subjects back to back, sent in order and round again, ~256 KiB per write. */
class FrameCycle {
  private readonly buf: Buffer;
  private readonly off: number[] = [];
  private readonly perChunk: number;
  private pos = 0;

  constructor(frames: Buffer[]) {
    let at = 0;
    let max = 1;
    for (const f of frames) {
      this.off.push(at);
      at += f.length;
      max = Math.max(max, f.length);
    }
    this.off.push(at);
    this.buf = Buffer.concat(frames);
    this.perChunk = Math.max(1, Math.floor(CHUNK_BYTES / max));
  }

  async send(c: RawConn, count: number, deadline: bigint): Promise<number> {
    const n = this.off.length - 1;
    let sent = 0;
    while (sent < count && now() < deadline) {
      const k = Math.min(this.perChunk, count - sent, n - this.pos);
      await c.write(this.buf.subarray(this.off[this.pos]!, this.off[this.pos + k]!));
      sent += k;
      this.pos = (this.pos + k) % n;
      if (c.error) throw new Error(c.error);
    }
    return sent;
  }
}

/**
 * Waits until `count()` reaches `target`, progress stalls, or the drain bound passes. Returns the end of the
 * measured window: when the target was reached, else the last observed progress.
 */
async function waitCount(count: () => number, target: number): Promise<bigint> {
  const start = now();
  let last = count();
  let lastChange = start;
  while (last < target) {
    const t = now();
    if (t - lastChange > ms(STALL_MS) || t - start > ms(DRAIN_MS)) break;
    await sleep(1);
    const d = count();
    if (d !== last) {
      last = d;
      lastChange = now();
    }
  }
  return last >= target ? now() : lastChange;
}

function cpuFields(cpu0: NodeJS.CpuUsage, t0: bigint, t1: bigint): Record<string, unknown> {
  const w = process.cpuUsage(cpu0);
  const all = process.cpuUsage();
  return {
    generator: GENERATOR,
    window_ns: Number(t1 - t0),
    window_cpu_s: (w.user + w.system) / 1e6,
    cpu_user_s: all.user / 1e6,
    cpu_sys_s: all.system / 1e6,
    async_errors: 0,
    disconnects,
  };
}

async function runPub(a: Args): Promise<void> {
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

async function runFanout(a: Args): Promise<void> {
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

async function runReqrep(a: Args): Promise<void> {
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

async function runConns(a: Args): Promise<void> {
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

async function runSubs(a: Args): Promise<void> {
  const subs: RawConn[] = [];
  let wild = 0;
  const s0 = now();
  for (let c = 0; c < a.subs; c++) subs.push(await RawConn.open(a.port));
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

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.mode === 'pub') await runPub(a);
  else if (a.mode === 'fanout') await runFanout(a);
  else if (a.mode === 'reqrep') await runReqrep(a);
  else if (a.mode === 'conns') await runConns(a);
  else if (a.mode === 'subs') await runSubs(a);
  else throw new Error(`unknown mode ${String(a.mode)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    out({ generator: GENERATOR, error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);
