// A real gRPC receiver for the grpc:// and grpcs:// sink tests: an @grpc/grpc-js server on 127.0.0.1 port 0
// implementing io.cloudevents.v1.CloudEventService from the shipped .proto files (loaded here on their own, as a
// receiver would), recording each event it decodes and answering as the test says. fromProto turns a received
// CloudEvent back into the structured JSON the broker stored, so a test compares the two.
import type { TestContext } from 'node:test';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoDir, SERVICE_PROTO } from '../../src/handlers/sinks/grpc-transport.js';

/** A CloudEvent as the loader decodes it (keepCase, oneofs: the oneof's member name in `data` / `attr`). */
export interface ReceivedEvent {
  id: string;
  source: string;
  spec_version: string;
  type: string;
  attributes?: Record<string, Record<string, unknown> & { attr: string }>;
  data?: string;
  text_data?: string;
  binary_data?: Buffer;
}

export interface GrpcCall {
  method: 'Publish' | 'PublishBatch';
  events: ReceivedEvent[];
  metadata: grpc.Metadata;
  /** The client certificate's subject CN (mutual TLS), if one was presented. */
  clientCn: string | undefined;
  at: number;
}

export interface GrpcReceiverOptions {
  /** The n-th call's (0-based) answer: a status code other than OK fails it; default OK. */
  answer?: (n: number, call: GrpcCall) => grpc.status;
  /** A failed call's status details (default `told to answer <STATUS>`). */
  details?: (n: number) => string;
  /** Serve TLS with this certificate; `ca` set: client certificates signed by it are required. */
  tls?: { cert: string; key: string; ca?: string };
  /** Default 0: any free port. */
  port?: number;
}

const loaded = protoLoader.loadSync(path.join(protoDir(), SERVICE_PROTO), {
  includeDirs: [protoDir()],
  keepCase: true,
  longs: Number,
  oneofs: true,
  defaults: false,
});
const service = loaded['io.cloudevents.v1.CloudEventService'] as unknown as grpc.ServiceDefinition;

export async function startGrpcReceiver(t: TestContext, opts: GrpcReceiverOptions = {}) {
  const got: GrpcCall[] = [];
  let n = 0;
  const server = new grpc.Server();
  const handle =
    (method: GrpcCall['method'], events: (req: Record<string, unknown>) => ReceivedEvent[]) =>
    (call: grpc.ServerUnaryCall<Record<string, unknown>, object>, cb: grpc.sendUnaryData<object>) => {
      const peer = call.getAuthContext().sslPeerCertificate;
      const c: GrpcCall = {
        method,
        events: events(call.request),
        metadata: call.metadata,
        clientCn: [peer?.subject?.CN].flat()[0],
        at: Date.now(),
      };
      got.push(c);
      const i = n++;
      const code = opts.answer?.(i, c) ?? grpc.status.OK;
      if (code === grpc.status.OK) cb(null, {});
      else cb({ code, details: opts.details?.(i) ?? `told to answer ${grpc.status[code]}` });
    };
  server.addService(service, {
    Publish: handle('Publish', (req) => [req.event as ReceivedEvent]),
    PublishBatch: handle('PublishBatch', (req) => (req.events as ReceivedEvent[] | undefined) ?? []),
  });
  const creds =
    opts.tls === undefined
      ? grpc.ServerCredentials.createInsecure()
      : grpc.ServerCredentials.createSsl(
          opts.tls.ca === undefined ? null : Buffer.from(opts.tls.ca),
          [{ cert_chain: Buffer.from(opts.tls.cert), private_key: Buffer.from(opts.tls.key) }],
          opts.tls.ca !== undefined,
        );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  const scheme = opts.tls === undefined ? 'grpc' : 'grpcs';
  return { url: `${scheme}://127.0.0.1:${port}`, got, events: () => got.flatMap((c) => c.events) };
}

/** A received CloudEvent as the structured JSON event it was made from (the mapping of docs/sinks-grpc.md undone). */
export function fromProto(e: ReceivedEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { specversion: e.spec_version, id: e.id, source: e.source, type: e.type };
  const media = e.attributes?.datacontenttype?.ce_string as string | undefined;
  for (const [name, v] of Object.entries(e.attributes ?? {})) {
    const value = v[v.attr];
    if (v.attr === 'ce_timestamp') {
      const ts = value as { seconds: number; nanos: number };
      const iso = new Date(ts.seconds * 1000).toISOString().replace('.000Z', '');
      out[name] = ts.nanos === 0 ? `${iso}Z` : `${iso}.${String(ts.nanos).padStart(9, '0').replace(/0+$/, '')}Z`;
    } else if (v.attr === 'ce_string' && typeof value === 'string' && /^[[{]/.test(value))
      out[name] = JSON.parse(value);
    else out[name] = value;
  }
  if (e.binary_data !== undefined) out.data_base64 = e.binary_data.toString('base64');
  if (e.text_data !== undefined)
    out.data = media === undefined || /json/.test(media) ? JSON.parse(e.text_data) : e.text_data;
  return out;
}
