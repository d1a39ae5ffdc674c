// A grpc:// (plaintext) or grpcs:// (TLS, mutual with cert_path/key_path) sink's transport: each delivery is one
// unary call of io.cloudevents.v1.CloudEventService (the shipped proto/io/cloudevents/v1/cloudevent_service.proto),
// Publish for one event and PublishBatch for a batch (batch_size > 1), the events mapped by grpc-event.ts, with the
// sink's timeout as the call's deadline and its headers as metadata. OK is delivered; UNAVAILABLE (no connection,
// a refused TLS handshake included), RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, CANCELLED (a receiver shutting down)
// and ABORTED are retried; any other status is the
// receiver refusing the events for good, so they are dead-lettered at once (failure.ts `permanent`).
//
// @grpc/grpc-js with @grpc/proto-loader: the loader reads the same .proto files receivers are given, so
// what is sent cannot drift from what is shipped, with no generated code to keep in step. One channel per sink
// (HTTP/2 multiplexes the calls in flight); a renewed TLS file (tls-files.ts) makes a new one.
//
// Both libraries load when the first gRPC sink is made, not with this module: the sink worker imports it for every
// configuration, and loading them took 80-250 ms, which a service with only HTTP sinks need not pay on each start.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Grpc from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import { toProtoEvent, type ProtoCloudEvent } from './grpc-event.js';
import { grpcMetadataProblem, headerProblem } from './headers.js';
import { TlsFiles } from './tls-files.js';
import type { PostOutcome, SinkTransport, SinkTransportOptions } from './transport.js';
import { batchWebhookId } from './webhook.js';

/** The service's .proto, relative to the proto directory (protoDir()) that its imports resolve against. */
export const SERVICE_PROTO = 'io/cloudevents/v1/cloudevent_service.proto';
/**
 * The largest answer taken from a receiver: both methods answer an Empty, and grpc-js's default (4 MiB) would let a
 * receiver make every call in flight buffer that much. A larger one fails the call (RESOURCE_EXHAUSTED: retried).
 */
export const MAX_ANSWER_BYTES = 64 * 1024;
/**
 * The channel's own reconnect backoff (grpc-js: 1 s growing to 120 s) kept short: the pump's backoff paces the
 * attempts, and a receiver back up should not wait out a channel backoff grown while it was down.
 */
const CHANNEL_OPTIONS: Grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.max_receive_message_length': MAX_ANSWER_BYTES,
};
/** A status's details beyond this many characters are cut: they go into every dead letter, the status page, logs. */
export const MAX_DETAILS = 512;
/**
 * Statuses that say "not now" rather than "never": retried. UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED;
 * CANCELLED, which is what a call in flight gets when its receiver shuts down (a deploy: grpc-js cancels its calls;
 * ours cancelled by close() are not counted at all); ABORTED, which gRPC says to retry at a higher level.
 */
const RETRIED = new Set([14, 8, 4, 1, 10]);

/** The package's proto/ directory: found upwards from this module (src/ and dist/src/ sit at different depths). */
export function protoDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(candidate, SERVICE_PROTO))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`grpc sinks: ${SERVICE_PROTO} not found above ${fileURLToPath(import.meta.url)}`);
}

type Method<Req> = Grpc.MethodDefinition<Req, object>;
interface Loaded {
  grpc: typeof Grpc;
  publish: Method<{ event: ProtoCloudEvent }>;
  batch: Method<{ events: ProtoCloudEvent[] }>;
}
let loaded: Loaded | undefined;

/** grpc-js and the two methods' paths and (de)serializers, loaded once per process. */
function load(): Loaded {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    const grpc = require('@grpc/grpc-js') as typeof Grpc;
    const protoLoader = require('@grpc/proto-loader') as typeof ProtoLoader;
    const def = protoLoader.loadSync(SERVICE_PROTO, { includeDirs: [protoDir()], keepCase: true, defaults: false });
    const svc = def['io.cloudevents.v1.CloudEventService'] as unknown as Grpc.ServiceDefinition;
    loaded = {
      grpc,
      publish: svc.Publish as Method<{ event: ProtoCloudEvent }>,
      batch: svc.PublishBatch as Method<{ events: ProtoCloudEvent[] }>,
    };
  }
  return loaded;
}

export interface GrpcTransportOptions extends SinkTransportOptions {
  /** Sent as call metadata (an authorization header, say). */
  headers?: Record<string, string>;
  /** batch_size > 1: every delivery is a PublishBatch (a batch of one too), so a receiver sees one method. */
  batched?: boolean;
}

/** A receiver's status details, at most MAX_DETAILS characters of them. */
function cut(details: string): string {
  return details.length <= MAX_DETAILS ? details : `${details.slice(0, MAX_DETAILS)}… (${details.length} characters)`;
}

export class GrpcTransport implements SinkTransport {
  private readonly calls = new Set<Grpc.ClientUnaryCall>();
  private readonly target: string;
  private readonly secure: boolean;
  private readonly files: TlsFiles | undefined;
  private readonly metadata: Grpc.Metadata;
  private readonly lib: Loaded;
  private readonly timeoutMs: number;
  private client: Grpc.Client | undefined;
  /** The TLS files' version the client was made with. */
  private clientVersion = 0;
  private closed = false;

  constructor(private readonly opts: GrpcTransportOptions) {
    const url = new URL(opts.url);
    this.secure = url.protocol === 'grpcs:';
    this.target = `${url.hostname}:${url.port || (this.secure ? 443 : 80)}`;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    // grpc:// is plaintext: the TLS files are for grpcs:// only.
    this.files = this.secure && opts.tls !== undefined ? new TlsFiles(opts.tls, opts.report) : undefined;
    this.lib = load();
    this.metadata = new this.lib.grpc.Metadata();
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      // Validated with the configuration already; a program building a sink itself learns here, without grpc-js's
      // error (which quotes the value, perhaps a credential).
      const problem = headerProblem(k, v) ?? grpcMetadataProblem(k, v);
      if (problem !== undefined)
        throw new TypeError(`sink ${opts.report?.sink ?? opts.url}: header ${JSON.stringify(k)}: ${problem}`);
      this.metadata.set(k.toLowerCase(), v);
    }
  }

  get inFlight(): number {
    return this.calls.size;
  }

  post(batch: readonly { id: string; body: string }[], _nowMs: number): Promise<PostOutcome> {
    const id = batchWebhookId(batch.map((r) => r.id));
    const failed = (problem: string, permanent: boolean): PostOutcome => ({
      delivered: false,
      id,
      status: 0,
      retryAfter: null,
      problem,
      permanent,
    });
    let client: Grpc.Client;
    try {
      client = this.channel();
    } catch (err) {
      return Promise.resolve(failed(`unreachable: ${(err as Error).message}`, false));
    }
    let events: ProtoCloudEvent[];
    try {
      events = batch.map((r) => toProtoEvent(r.body));
    } catch (err) {
      return Promise.resolve(failed(`cannot encode the event: ${(err as Error).message}`, true));
    }
    return new Promise((resolve) => {
      const done = (err: Grpc.ServiceError | null) => {
        this.calls.delete(call);
        if (err === null) resolve({ delivered: true, id, status: 0, retryAfter: null, problem: 'OK' });
        else
          resolve(
            failed(`gRPC ${this.lib.grpc.status[err.code] ?? err.code}: ${cut(err.details)}`, !RETRIED.has(err.code)),
          );
      };
      const options = { deadline: Date.now() + this.timeoutMs };
      const { publish, batch: publishBatch } = this.lib;
      const call =
        this.opts.batched !== true
          ? client.makeUnaryRequest(
              publish.path,
              publish.requestSerialize,
              publish.responseDeserialize,
              { event: events[0]! },
              this.metadata,
              options,
              done,
            )
          : client.makeUnaryRequest(
              publishBatch.path,
              publishBatch.requestSerialize,
              publishBatch.responseDeserialize,
              { events },
              this.metadata,
              options,
              done,
            );
      this.calls.add(call);
    });
  }

  close(): void {
    this.closed = true;
    for (const call of this.calls) call.cancel();
    this.client?.close();
  }

  /** The client for the TLS files as they are now: a new channel when they were renewed. */
  private channel(): Grpc.Client {
    if (this.closed) throw new Error('the sink is closing');
    const m = this.files?.current();
    if (this.client !== undefined && (m === undefined || m.version === this.clientVersion)) return this.client;
    // Calls on the old channel finish or fail UNAVAILABLE (retried); new ones use the renewed files.
    this.client?.close();
    const verify = this.opts.sslVerify === false ? { rejectUnauthorized: false } : {};
    const { grpc } = this.lib;
    const creds = !this.secure
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(m?.ca ?? null, m?.key ?? null, m?.cert ?? null, verify);
    this.client = new grpc.Client(this.target, creds, CHANNEL_OPTIONS);
    this.clientVersion = m?.version ?? 0;
    return this.client;
  }
}
