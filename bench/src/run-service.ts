// Our event service as a child process of the bench, so its RSS and CPU are its own, as nats-server's are.
// argv[2]: JSON `{ service: {...} }` merged over loopback/port 0; prints `{"port":N,"pid":P}` once listening (and
// `"leafnodePort":L` with a [leafnodes] section, for the gateway scenario) and stops on SIGTERM. Anything else on
// stdout would break the port line: logs are silenced.
// Each `heap` line on stdin is answered with one JSON line of process.memoryUsage() after a full GC (when run with
// --expose-gc, as servers.ts does), so the soak scenario can compare live heap before, during and after a load;
// `snapshot <file>` writes a V8 heap snapshot there after a full GC and answers {"snapshot":"<file>"}.
import readline from 'node:readline';
import v8 from 'node:v8';
import { startEventService } from '@event-broker/event-service';

// Other sections (e.g. [store], [handlers] for the `events` scenario) pass through as given.
const extra = JSON.parse(process.argv[2] ?? '{}') as { service?: Record<string, unknown> } & Record<string, unknown>;
const svc = await startEventService({
  ...extra,
  service: { ...extra.service, host: '127.0.0.1', port: 0 },
  log: { level: 'silent' },
});
process.stdout.write(`${JSON.stringify({ port: svc.port, pid: process.pid, leafnodePort: svc.leafnodePort })}\n`);

const gc = (globalThis as { gc?: () => void }).gc;
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd.startsWith('snapshot ')) {
    gc?.();
    const file = v8.writeHeapSnapshot(cmd.slice('snapshot '.length));
    process.stdout.write(`${JSON.stringify({ snapshot: file })}\n`);
    return;
  }
  if (cmd !== 'heap') return;
  gc?.();
  const m = process.memoryUsage();
  const sample = {
    heap_used: m.heapUsed,
    heap_total: m.heapTotal,
    external: m.external,
    array_buffers: m.arrayBuffers,
    rss: m.rss,
    gc: gc !== undefined,
    // Per V8 space: growth in code_space after a load is compiled code (warm-up), in old_space live objects.
    spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((sp) => [sp.space_name, sp.space_used_size])),
    // Bytecode and machine code with their metadata (part of the figures above): what warm-up adds.
    compiled: (() => {
      const c = v8.getHeapCodeStatistics();
      return c.bytecode_and_metadata_size + c.code_and_metadata_size;
    })(),
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
});

process.once('SIGTERM', () => {
  // Bounded: a close that hangs must not hold up the next scenario.
  setTimeout(() => process.exit(0), 3000).unref();
  svc.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
