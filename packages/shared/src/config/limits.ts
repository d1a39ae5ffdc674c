// The NATS client port's settings, the same in the event service's [service] and the gateway's [gateway]:
// address, client limits (shared server/context.ts ClientLimits reads them), the name in INFO, the lame-duck drain
// and the data directory, with their bounds, defaults, reload marks and checks, declared once so the two schemas
// cannot drift apart. Each process extends the section with its own settings.
import { schema as s } from './schema.js';

const MiB = 1024 * 1024;

/** nats-server refuses a larger max_payload (server/opts.go MAX_PAYLOAD_MAX_SIZE). */
export const MAX_PAYLOAD_CAP = 64 * MiB;

/**
 * max_control_line is what a connection may make us retain of one protocol line before it has authenticated (the
 * parser keeps a line until its end or the bound; a WebSocket message before admission is bounded by it too). A
 * subject, reply and queue, or a CONNECT with a JWT, take a few KiB; nats-server takes up to 2^31-1 (opts.go "value
 * is too big"), which would let each unauthenticated socket retain a gigabyte. 1 MiB, the default max_payload, is far
 * above any real line and keeps 100 connections not yet admitted under ~100 MB.
 */
export const MAX_CONTROL_LINE_CAP = MiB;

export interface ClientPortDefaults {
  /** The client port when the file names none. */
  port: number;
  /** auth_timeout when the file names none, in ms. */
  authTimeoutMs: number;
}

/**
 * The client port's section. Its limits reload live (each process applies them to open connections); what the
 * port is bound to and where the data directory is wait for a restart.
 */
export function clientPortSection(defaults: ClientPortDefaults) {
  return s
    .table({
      /** Loopback unless asked (set "0.0.0.0" to serve other hosts). */
      host: s.string().default('127.0.0.1').restart(),
      /** 0 binds an ephemeral port. */
      port: s.port().default(defaults.port).restart(),
      /** Bytes; at most max_pending. */
      max_payload: s.size({ min: 1, max: MAX_PAYLOAD_CAP }).default(MiB),
      max_connections: s.integer({ min: 1 }).default(65_536),
      /** Bytes. */
      max_control_line: s.size({ min: 1, max: MAX_CONTROL_LINE_CAP }).default(4096),
      /** Bytes. */
      max_pending: s.size({ min: 1 }).default(64 * MiB),
      /** Per connection; 0 = no limit (nats-server's default). */
      max_subscriptions: s.integer({ min: 0 }).default(0),
      /** ms. */
      ping_interval: s.timer().default(120_000),
      ping_max: s.integer({ min: 1 }).default(2),
      /** ms. */
      write_deadline: s.timer().default(10_000),
      /** From accept to an admitted CONNECT, TLS handshake included, in ms. */
      auth_timeout: s.timer().default(defaults.authTimeoutMs),
      // nats-server validateOptions: "server name cannot contain spaces".
      /** Name advertised in INFO (server_name); defaults to the server id. */
      server_name: s.string({ pattern: { test: /^\S+$/, reason: 'must not contain spaces' } }).optional(),
      // nats-server lame_duck_duration, lame_duck_grace_period; its defaults are 2m and 10s. 25s keeps the whole exit
      // inside a 30s stop timeout (Kubernetes' default terminationGracePeriodSeconds).
      /** SIGTERM: how long the lame-duck drain may take before the remaining clients are closed and the process exits, in ms. */
      lame_duck_duration: s.timer().default(25_000),
      /** SIGTERM: after telling clients (INFO ldm), how long they are left to leave on their own, in ms; shorter than lame_duck_duration. */
      lame_duck_grace_period: s.timer({ minMs: 0 }).default(10_000),
      // Read from the base and --patch files only, never a stored patch (shared config/commands.ts). The pid file and
      // the stored patches stay where the process found them at start.
      /** Where `config patch` keeps stored patches and the process its pid file; default `data` beside the config file (the working directory's without one). */
      data_dir: s.path().optional().restart(),
    })
    .live()
    .check((l, ctx) => {
      // nats-server validateOptions refuses the same: a message larger than the pending budget could never leave.
      if (l.max_payload > l.max_pending) {
        ctx.report(
          ['max_payload'],
          'ECONFIG_RANGE',
          `must not exceed max_pending (${l.max_pending} bytes), got ${l.max_payload} bytes`,
        );
      }
      // nats-server validateOptions: "lame duck grace period should be strictly lower than lame duck duration".
      if (l.lame_duck_grace_period >= l.lame_duck_duration) {
        ctx.report(
          ['lame_duck_grace_period'],
          'ECONFIG_RANGE',
          `must be shorter than lame_duck_duration (${l.lame_duck_duration} ms), got ${l.lame_duck_grace_period} ms`,
        );
      }
    });
}
