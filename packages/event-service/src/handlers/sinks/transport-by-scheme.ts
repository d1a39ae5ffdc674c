// Which transport a sink's URL picks, apart from transport.ts (the interface both pumps drive, and HTTP) so that
// the gRPC transport can use that interface without an import cycle.
import { GrpcTransport } from './grpc-transport.js';
import type { HttpSinkOptions } from './options.js';
import { HttpTransport, type SinkTransport } from './transport.js';
import { WebhookFormat } from './webhook.js';

/** The transport for a sink's URL: grpc:// and grpcs:// speak gRPC (grpc-transport.ts), anything else HTTP. */
export function createSinkTransport(opts: HttpSinkOptions, maxInFlight: number): SinkTransport {
  const conf = {
    url: opts.url,
    maxSockets: maxInFlight,
    ...(opts.pipelining !== undefined && { pipelining: opts.pipelining }),
    sslVerify: opts.sslVerify,
    timeoutMs: opts.timeoutMs,
    report: { logger: opts.logger, sink: opts.name },
  };
  const tls = opts.tls !== undefined ? { tls: opts.tls } : {};
  if (/^grpcs?:/i.test(opts.url)) {
    return new GrpcTransport({ ...conf, ...tls, headers: opts.headers, batched: (opts.batchSize ?? 1) > 1 });
  }
  return new HttpTransport({ ...conf, ...tls }, new WebhookFormat(opts));
}
