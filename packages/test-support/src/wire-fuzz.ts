// Fuzzing a running process over real sockets: each run opens a connection to one of its ports (after the INFO, and
// TLS when the port has it), writes a hostile stream (frames.ts) in random chunks, waits briefly for the server to
// close or answer, and drops the connection; between runs a good client that stays connected must get its PONG in
// time and the process must still be running. The wire fuzz test runs it with a fixed seed, `pnpm fuzz` with
// random seeds for minutes.
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import { chunksOf, cutsOf, hostileStream, type FrameRole } from './frames.js';
import type { Opener } from './parking.js';

/** One port of the process under test, and what is sent on it. */
export interface WireTarget {
  /** For reports: `service client port, with token`. */
  readonly name: string;
  readonly open: Opener;
  /** Which operations its peers send: `client` for a client port, `leaf` for a leafnode port. */
  readonly role: FrameRole;
  /** Sent before every stream, unmutated: a CONNECT that gets past admission (none: admission is fuzzed too). */
  readonly preamble?: Buffer;
}

export interface WireFuzzLimits {
  /** The max_payload and max_control_line the process enforces (sizes around them are tried). */
  maxPayload: number;
  maxControlLine: number;
}

/** A connection that must keep being served: its PING must be answered within `ms`. */
export interface GoodClient {
  ping(ms: number): Promise<void>;
  close(): void;
}

/** Opens a good client: `connect` (its CONNECT line) then a PING answered. */
export async function goodClient(open: Opener, connect: Buffer, ms = 5000): Promise<GoodClient> {
  const s = await open();
  let input = '';
  let waiter: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    input += d.toString('latin1');
    // Keep only what a PONG search needs; the server's own PINGs are answered.
    if (input.includes('PING\r\n')) {
      input = input.replaceAll('PING\r\n', '');
      s.write('PONG\r\n');
    }
    waiter?.();
  });
  const client: GoodClient = {
    ping: (timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        if (s.destroyed) return reject(new Error('the good client was disconnected'));
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`no PONG within ${timeoutMs} ms`));
        }, timeoutMs);
        const closed = () => {
          clearTimeout(timer);
          waiter = undefined;
          reject(new Error(`the good client was disconnected; got ${JSON.stringify(input.slice(-200))}`));
        };
        s.once('close', closed);
        waiter = () => {
          const at = input.indexOf('PONG\r\n');
          if (at === -1) return;
          input = input.slice(at + 6);
          clearTimeout(timer);
          waiter = undefined;
          s.off('close', closed);
          resolve();
        };
        s.write('PING\r\n');
      }),
    close: () => s.destroy(),
  };
  s.write(connect);
  await client.ping(ms);
  return client;
}

/** Writes `chunks` one read apart, then waits up to `settleMs` for the server to close; always drops the socket. */
async function send(s: Duplex, chunks: readonly Buffer[], settleMs: number): Promise<void> {
  let closed = false;
  s.once('close', () => (closed = true));
  try {
    for (const c of chunks) {
      if (closed) return;
      if (c.length > 0) s.write(c);
      await new Promise<void>((r) => setImmediate(r));
    }
    await new Promise<void>((resolve) => {
      if (closed) return resolve();
      const timer = setTimeout(resolve, settleMs);
      s.once('close', () => (clearTimeout(timer), resolve()));
    });
  } finally {
    s.destroy();
  }
}

export interface WireFuzzOptions extends WireFuzzLimits {
  targets: readonly WireTarget[];
  /** The process is still running. */
  alive(): boolean;
  /** Checked after every run: the good client's PING answered within `probeMs`. */
  good: GoodClient;
  probeMs?: number;
  /** How long a run waits for the server to close before dropping the connection (default 30 ms). */
  settleMs?: number;
}

/** The property: one hostile stream to one target, then the process is up and the good client answered. */
export function wireProperty(opts: WireFuzzOptions): fc.IAsyncProperty<[[WireTarget, Buffer], number[]]> {
  const perTarget = opts.targets.map((t) =>
    fc.tuple(
      fc.constant(t),
      hostileStream(t.role, {
        maxPayload: opts.maxPayload,
        maxControlLine: opts.maxControlLine,
        ...(t.preamble && { preamble: t.preamble }),
      }),
    ),
  );
  return fc.asyncProperty(
    fc.oneof(...perTarget),
    fc.array(fc.nat(), { maxLength: 6 }),
    async ([target, stream], raw) => {
      const s = await target.open();
      await send(s, chunksOf(stream, cutsOf(stream.length, raw)), opts.settleMs ?? 30);
      if (!opts.alive()) throw new Error(`the process exited after a stream to ${target.name}`);
      try {
        await opts.good.ping(opts.probeMs ?? 2000);
      } catch (err) {
        throw new Error(`after a stream to ${target.name}: ${(err as Error).message}`);
      }
    },
  );
}

/** A stream as text a reader can paste back into a test (latin1, control bytes escaped). */
export function showStream(b: Buffer): string {
  return JSON.stringify(b.toString('latin1'));
}
