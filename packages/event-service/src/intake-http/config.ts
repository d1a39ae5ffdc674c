// The [intake.http] settings: where the CloudEvents HTTP listener binds, whom it trusts (bearer tokens verified as
// the gateway's [auth] is, shared/src/auth; client certificates of [intake.http.tls]'s CA; or, asked for, anyone on
// loopback) and what an unauthenticated peer may make it hold. The service schema (config.ts) takes the section
// whole; the listener is listener.ts.
import {
  authShape,
  checkAuthSettings,
  isLoopbackHost,
  keyFileCheck,
  schema as s,
  ConfigError,
  type CheckContext,
  type ConfigSources,
  type Infer,
} from '@event-broker/shared';
import { listenerTlsSection } from '../config-tls.js';
import { typeGrantProblem } from './grants.js';
import { allowedOriginsProblems } from './webhook-origin.js';

const MiB = 1024 * 1024;

function checkGrants(list: readonly string[] | undefined, key: string[], ctx: CheckContext): void {
  list?.forEach((g, i) => {
    const problem = typeGrantProblem(g);
    if (problem !== undefined) ctx.report([...key, i], 'ECONFIG_VALUE', problem);
  });
}

const httpSection = s
  .table({
    /** Loopback unless asked (set "0.0.0.0" to serve other hosts). */
    host: s.string().default('127.0.0.1'),
    port: s.port(),
    // Whom the listener trusts, when it names no one: dev setups on one machine only.
    /** Admit callers with no credential (authtype `unauthenticated`): only without [auth] and tls verify, only on loopback. */
    allow_anonymous: s.boolean().default(false),
    // A token's own claim (auth.event_types_claim) replaces it; absent both, every type.
    /** Event types (or noun:verb patterns) a caller whose credential names none may produce; absent: every type. */
    event_types: s.stringArray().optional().live(),
    /** Bytes of one request body (a batch); each event is bounded by [service] max_payload besides. */
    max_body: s
      .size({ min: 1024, max: 256 * MiB })
      .default(16 * MiB)
      .live(),
    /** Events in one batch request. */
    max_batch: s.integer({ min: 1, max: 100_000 }).default(1000).live(),
    // The CloudEvents webhook handshake (webhook.ts): OPTIONS on / and /events; it admits no caller by itself.
    /** Origins (DNS names) whose WebHook-Request-Origin the handshake grants, or ["*"]; empty: refused (403). */
    webhook_allowed_origins: s.stringArray().default([]).live(),
    /** The WebHook-Allowed-Rate granted, in requests per minute; absent: "*" (no limit stated). */
    webhook_allowed_rate: s.integer({ min: 1, max: 999_999_999 }).optional().live(),
    // What a peer that has not authenticated may hold: a socket, the header bytes, the time to send them.
    /** Connections open at once; past it, new ones are closed at accept. */
    max_connections: s.integer({ min: 1, max: 65_536 }).default(256),
    /** Time to complete a TLS handshake, then to receive a request's headers, in ms (a slow peer is cut). */
    headers_timeout: s.timer({ minMs: 100 }).default(10_000),
    /** Time to receive a whole request, in ms. */
    request_timeout: s.timer({ minMs: 100 }).default(30_000),
    /** An idle keep-alive connection is closed after this, in ms. */
    keep_alive_timeout: s.timer({ minMs: 100 }).default(5_000),
    /** The listener's certificate; with verify, callers must present a certificate chained to root_ca_path. */
    tls: listenerTlsSection(),
    /** Bearer tokens (Authorization: Bearer), verified as the gateway's [auth]; the key and revoked list reload. */
    auth: s
      .table({
        ...authShape,
        /** The claim listing the event types (or noun:verb patterns) a token may produce. */
        event_types_claim: s.string().default('event_types'),
      })
      .check((auth, ctx) => {
        // The key read now, so a missing file fails the load at its line, not the first caller; after the settings
        // themselves are right (as the gateway's config entry does).
        let problems = 0;
        checkAuthSettings(auth, { report: (...p) => (problems++, ctx.report(...p)) });
        if (problems === 0) keyFileCheck(auth, ctx);
      })
      .optional()
      .live(),
  })
  .check((http, ctx) => {
    checkGrants(http.event_types, ['event_types'], ctx);
    for (const p of allowedOriginsProblems(http.webhook_allowed_origins))
      ctx.report(['webhook_allowed_origins', p.at], 'ECONFIG_VALUE', p.reason);
    // node:http refuses to make such a server (ERR_OUT_OF_RANGE): said here, at its line.
    if (http.headers_timeout > http.request_timeout)
      ctx.report(['headers_timeout'], 'ECONFIG_VALUE', 'must not exceed request_timeout (the whole request)');
    const namesSomeone = http.auth !== undefined || http.tls?.verify === true;
    if (namesSomeone && http.allow_anonymous) {
      ctx.report(
        ['allow_anonymous'],
        'ECONFIG_VALUE',
        'conflicts with [intake.http.auth] / tls verify: a listener that verifies callers admits no anonymous one',
      );
    } else if (!namesSomeone && !http.allow_anonymous) {
      ctx.report(
        ['port'],
        'ECONFIG_VALUE',
        'the listener would admit anyone who reaches it: set [intake.http.auth] (bearer tokens) or [intake.http.tls] verify = true with root_ca_path (client certificates), or allow_anonymous = true on a loopback host',
      );
    } else if (!namesSomeone && !isLoopbackHost(http.host)) {
      ctx.report(
        ['host'],
        'ECONFIG_VALUE',
        `${JSON.stringify(http.host)} is not a loopback address: allow_anonymous admits callers on loopback only`,
      );
    }
  });

/** `[intake]`: producers beyond NATS. Off unless present; the listener is (re)bound at start only. */
export const intakeSection = s.table({ http: httpSection.optional() }).optional().restart();

export type IntakeHttpSettings = Infer<typeof httpSection>;

/**
 * The listener feeds the durable intake, which runs with [store] or [handlers] only (the service's config entry
 * runs this after the schema). Throws ConfigError at the section's first line.
 */
export function intakeNeedsStore(
  cfg: { intake?: { http?: unknown } | undefined; store?: unknown; handlers?: unknown; sinks?: unknown },
  sources: ConfigSources,
): void {
  if (
    cfg.intake?.http === undefined ||
    cfg.store !== undefined ||
    cfg.handlers !== undefined ||
    cfg.sinks !== undefined
  )
    return;
  // The first setting written in the section (the defaults filled in have no line).
  const src = [...sources.entries()].find(([k, v]) => k.startsWith('intake.http.') && v.kind !== 'default')?.[1];
  const file =
    src === undefined || src.kind === 'default' ? '<defaults>' : src.kind === 'embedded' ? '<embedded>' : src.file;
  const line = src !== undefined && (src.kind === 'base' || src.kind === 'patch') ? src.line : undefined;
  throw new ConfigError([
    {
      file,
      ...(line !== undefined && { line }),
      key: 'intake.http',
      reason: 'needs [store] or [handlers]: the events it takes go into the durable intake',
      code: 'ECONFIG_MISSING',
    },
  ]);
}
