// The `events-drain-light` row's receiver: an HTTP/1.1 server on loopback as light as a Node one can be (node:net, a
// request read by its content-length, one fixed `204` answer written per request read, kept alive), on a worker
// thread of its own, counting what it gets the way events.ts's node:http receiver does (distinct webhook-ids, JSON
// array bodies, redeliveries, the last delivery's time) in the same shared layout (worker-receiver.ts). It serves
// only what a sink sends: requests with a content-length (a chunked one is answered 411 and its connection
// closed). Measured against node:http on the 2-core machine (1 KiB POSTs one at a time from a raw socket): ~22-29
// µs of CPU a request against node:http's ~30-44 µs, so a row with it says more of what the sink's side costs.
// This file is both: startLightReceiver in the bench's process, the server when loaded as the worker.
import net from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { workerReceiver } from './worker-receiver.js';

const NO_CONTENT = Buffer.from('HTTP/1.1 204 No Content\r\nKeep-Alive: timeout=5\r\n\r\n');
const LENGTH_REQUIRED = Buffer.from('HTTP/1.1 411 Length Required\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
/** A request head longer than this is refused (the sink's are a few hundred bytes). */
const MAX_HEAD = 16 * 1024;

/** A header's value in a request head (lower-cased names: what a head is searched as), or undefined. */
function header(head: string, name: string): string | undefined {
  const at = head.indexOf(`\r\n${name}:`);
  if (at < 0) return undefined;
  const end = head.indexOf('\r\n', at + name.length + 3);
  return head.slice(at + name.length + 3, end < 0 ? undefined : end).trim();
}

function serve(shared: SharedArrayBuffer): void {
  const counts = new Int32Array(shared, 0, 2);
  const last = new BigInt64Array(shared, 8, 1);
  const again = new Int32Array(shared, 16, 1);
  const seen = new Set<string>();
  const count = (id: string) => {
    if (seen.has(id)) Atomics.add(again, 0, 1);
    else {
      seen.add(id);
      Atomics.add(counts, 0, 1);
    }
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      let answers = 0;
      for (;;) {
        const headEnd = buf.indexOf(HEAD_END);
        if (headEnd < 0) {
          if (buf.length > MAX_HEAD) return void socket.end(LENGTH_REQUIRED);
          break;
        }
        // Header names are case-insensitive: searched lower-cased (values are ids and numbers, kept as sent).
        const head = buf.toString('latin1', 0, headEnd).toLowerCase();
        const length = header(head, 'content-length');
        if (length === undefined || !/^\d+$/.test(length)) return void socket.end(LENGTH_REQUIRED);
        const end = headEnd + 4 + Number(length);
        if (buf.length < end) break;
        if (buf[headEnd + 4] === 0x5b) {
          Atomics.add(counts, 1, 1);
          const events = JSON.parse(buf.toString('utf8', headEnd + 4, end)) as { id: string }[];
          for (const e of events) count(e.id);
        } else count(header(head, 'webhook-id') ?? '');
        answers++;
        buf = buf.subarray(end);
      }
      pending = buf.length > 0 ? buf : undefined;
      if (answers === 0) return;
      Atomics.store(last, 0, process.hrtime.bigint());
      socket.write(answers === 1 ? NO_CONTENT : Buffer.concat(Array<Buffer>(answers).fill(NO_CONTENT)));
    });
  });
  server.listen(0, '127.0.0.1', () => parentPort!.postMessage((server.address() as net.AddressInfo).port));
  parentPort!.on('message', () => {
    for (const s of sockets) s.destroy();
    server.close(() => process.exit(0));
  });
}

/** Starts the light receiver on a worker thread; its counts are read as workerReceiver's. */
export async function startLightReceiver() {
  const shared = new SharedArrayBuffer(24);
  return workerReceiver(new Worker(new URL(import.meta.url), { workerData: shared }), shared);
}

if (!isMainThread && workerData instanceof SharedArrayBuffer) serve(workerData);
