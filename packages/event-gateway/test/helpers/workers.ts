// What the `[gateway] workers = 2` CLI tests share (workers-lifecycle, workers-slots).
import { logLine, type Run } from '@event-broker/test-support/child';

/** Waits for the primary's `ready` and both workers' client listeners; the client port. */
export async function workersStarted(run: Run): Promise<number> {
  await logLine(run, 'ready');
  const port = (await logLine(run, 'listening for client connections', { fields: { worker: 1 } })).port as number;
  await logLine(run, 'listening for client connections', { fields: { worker: 2 } });
  return port;
}
