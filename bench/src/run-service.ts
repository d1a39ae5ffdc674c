// Our event service as a child process of the bench, so its RSS and CPU are its own, as nats-server's are.
// argv[2]: JSON `{ service: {...} }` merged over loopback/port 0; prints `{"port":N,"pid":P}` once listening and
// stops on SIGTERM. Anything else on stdout would break the port line: logs are silenced.
import { startEventService } from '@event-broker/event-service';

// Other sections (e.g. [store], [handlers] for the `events` scenario) pass through as given.
const extra = JSON.parse(process.argv[2] ?? '{}') as { service?: Record<string, unknown> } & Record<string, unknown>;
const svc = await startEventService({
  ...extra,
  service: { ...extra.service, host: '127.0.0.1', port: 0 },
  log: { level: 'silent' },
});
process.stdout.write(`${JSON.stringify({ port: svc.port, pid: process.pid })}\n`);

process.once('SIGTERM', () => {
  // Bounded: a close that hangs must not hold up the next scenario.
  setTimeout(() => process.exit(0), 3000).unref();
  svc.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
