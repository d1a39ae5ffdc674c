// A sink receiver on a worker thread, as the events scenarios read it: the worker counts what it receives into a
// SharedArrayBuffer (events.ts's node:http receiver, grpc-receiver.ts's CloudEventService) and posts its port.
import type { Worker } from 'node:worker_threads';

/**
 * A receiver running in `worker` that shares its counts in `shared` (the layout above: distinct events, array bodies,
 * the last delivery's time, redeliveries) and posts its port once listening; `stop` ends it.
 */
export async function workerReceiver(worker: Worker, shared: SharedArrayBuffer) {
  const counts = new Int32Array(shared, 0, 2);
  const last = new BigInt64Array(shared, 8, 1);
  const again = new Int32Array(shared, 16, 1);
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (p: number) => resolve(p));
    worker.once('error', reject);
  });
  return {
    port,
    delivered: () => Atomics.load(counts, 0),
    redelivered: () => Atomics.load(again, 0),
    arrays: () => Atomics.load(counts, 1),
    lastDelivery: () => Atomics.load(last, 0),
    stop: async () => {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.postMessage('stop');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      await worker.terminate();
    },
  };
}
