// The `events-grpc` rows' receiver: an @grpc/grpc-js server for io.cloudevents.v1.CloudEventService (the proto the
// event service ships) on a worker thread of its own, counting what it gets the way events.ts's node:http receiver
// does (distinct event ids, batches, redeliveries, the last delivery's time) in the same shared layout, so
// events.ts measures either the same way. This file is both: startGrpcReceiver in the bench's process, the server
// when loaded as the worker.
import { createRequire } from 'node:module';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { workerReceiver } from './worker-receiver.js';

/** The proto directory the event service package ships (its main is dist/src/index.js). */
function protoDir(): string {
  const main = createRequire(import.meta.url).resolve('@event-broker/event-service');
  return path.resolve(path.dirname(main), '../../proto');
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
  const dir = protoDir();
  const def = protoLoader.loadSync('io/cloudevents/v1/cloudevent_service.proto', {
    includeDirs: [dir],
    keepCase: true,
    defaults: false,
  });
  const service = def['io.cloudevents.v1.CloudEventService'] as unknown as grpc.ServiceDefinition;
  type Ev = { id: string };
  const server = new grpc.Server();
  server.addService(service, {
    Publish: (call: grpc.ServerUnaryCall<{ event: Ev }, object>, cb: grpc.sendUnaryData<object>) => {
      count(call.request.event.id);
      Atomics.store(last, 0, process.hrtime.bigint());
      cb(null, {});
    },
    PublishBatch: (call: grpc.ServerUnaryCall<{ events?: Ev[] }, object>, cb: grpc.sendUnaryData<object>) => {
      Atomics.add(counts, 1, 1);
      for (const e of call.request.events ?? []) count(e.id);
      Atomics.store(last, 0, process.hrtime.bigint());
      cb(null, {});
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    parentPort!.postMessage(port);
  });
  parentPort!.on('message', () => server.tryShutdown(() => process.exit(0)));
}

if (!isMainThread && (workerData as { grpcReceiver?: SharedArrayBuffer } | null)?.grpcReceiver !== undefined)
  serve((workerData as { grpcReceiver: SharedArrayBuffer }).grpcReceiver);

/** A gRPC receiver with the same face as events.ts's startReceiver. */
export async function startGrpcReceiver() {
  const shared = new SharedArrayBuffer(24);
  return workerReceiver(new Worker(new URL(import.meta.url), { workerData: { grpcReceiver: shared } }), shared);
}
