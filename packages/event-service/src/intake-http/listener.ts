// The HTTP intake's listener ([intake.http]): CloudEvents producers POST events (binding.ts), callers are verified
// from the headers before any body is read (caller.ts), bodies are read up to their bound, and the events go into
// the service's durable intake (EventIntake.submit: the NATS intake's validation, event_limit and group commit).
// A 2xx is sent only after the commit (respond.ts). What a peer may hold before it is verified is bounded: a socket
// of max_connections, a TLS handshake and then headers within node's 16 KiB, each within headers_timeout, the whole
// request within request_timeout. OPTIONS on the CloudEvents paths is the webhook validation handshake (webhook.ts).
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import {
  listenOn,
  loadServerTlsOptions,
  ThrottledWarn,
  type EventCatalogue,
  type Logger,
  type ServerTlsOptions,
} from '@event-broker/shared';
import { EventReplyErrorCode, IntakeHttpErrorCode } from '../error-codes.js';
import type { EventIntake } from '../handlers/intake.js';
import { batchEvents, binaryEvent, bindingMode, structuredEvent, type Headers } from './binding.js';
import { CallerCheck, scopeChallenge, type Caller } from './caller.js';
import type { IntakeHttpSettings } from './config.js';
import { typeGranted } from './grants.js';
import {
  batchAnswer,
  outcomeOf,
  refusal,
  singleAnswer,
  writeAnswer,
  type HttpAnswer,
  type Outcome,
} from './respond.js';
import { HANDSHAKE_ALLOW, webhookHandshake } from './webhook.js';

/** The CloudEvents paths: POST takes events, OPTIONS answers the webhook handshake (not /k8s/audit: no sender asks). */
const CLOUDEVENTS_PATHS: ReadonlySet<string> = new Set(['/', '/events']);
/** The 403 challenge of an event type the caller may not produce, one event's or a batch element's. */
const TYPE_CHALLENGE = { 'www-authenticate': scopeChallenge('event type not granted') };

export interface HttpIntakeDeps {
  /** The service's intake (the handlers'), read per request. */
  intake: () => EventIntake | undefined;
  /** [service] max_payload, read live: one event's bound. */
  maxPayloadBytes: () => number;
  catalogue: () => EventCatalogue;
  logger: Logger;
}

/** A route: the request, its verified caller and its body reader, to an answer. */
export type IntakeRoute = (r: RouteContext) => Promise<HttpAnswer>;

export interface RouteContext {
  req: http.IncomingMessage;
  caller: Caller;
  /** The body, or undefined when it exceeds `limit` bytes (answered 413 by the caller of this). */
  body(limit: number): Promise<Buffer | undefined>;
  /** The events submitted as `caller`, each type checked against its grants; outcomes in order. */
  submit(values: readonly unknown[], tooLarge?: ReadonlySet<number>): Promise<Outcome[]>;
  settings: IntakeHttpSettings;
  maxPayloadBytes: number;
}

const TOO_LARGE = Symbol('too large');

export class HttpIntake {
  private readonly server: http.Server;
  private settings: IntakeHttpSettings;
  private callers: CallerCheck;
  private boundPort = 0;
  private readonly routes = new Map<string, IntakeRoute>();
  private readonly refusals = new ThrottledWarn<'unauthorized' | 'forbidden' | 'handshake'>(
    'HTTP intake callers refused',
    { kinds: ['unauthorized', 'forbidden', 'handshake'] },
  );

  constructor(
    settings: IntakeHttpSettings,
    private readonly deps: HttpIntakeDeps,
  ) {
    this.settings = settings;
    this.callers = new CallerCheck(settings);
    const options: http.ServerOptions = {
      headersTimeout: settings.headers_timeout,
      requestTimeout: settings.request_timeout,
      keepAliveTimeout: settings.keep_alive_timeout,
      connectionsCheckingInterval: Math.min(1000, settings.headers_timeout),
    };
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        // The peer went away mid-body: nothing to answer, nothing to log (a peer can do it at will).
        if (req.destroyed && !req.complete) return void res.destroy();
        // The path alone: a query may carry a credential (`?access_token=`), which never goes to the log.
        deps.logger.error(
          { err: (err as Error).message, path: (req.url ?? '/').split('?')[0]!.slice(0, 200) },
          'HTTP intake request failed',
        );
        if (!res.headersSent)
          writeAnswer(res, { status: 500, headers: {}, body: { error: { reason: 'internal error' } } }, true);
        else res.destroy();
      });
    };
    // headers_timeout starts once a connection is node:http's, after its TLS handshake (node's default: 120 s).
    this.server = settings.tls
      ? https.createServer(
          { ...options, ...this.tlsOptions(settings), handshakeTimeout: settings.headers_timeout },
          handler,
        )
      : http.createServer(options, handler);
    // Past it, node closes new sockets at accept: a flood takes no more descriptors than this.
    this.server.maxConnections = settings.max_connections;
    // `Expect: 100-continue`: node would send 100 before the caller is verified, inviting the body; it is sent when
    // the body is read (RouteContext.body), after the caller's check and the bounds.
    this.server.on('checkContinue', handler);
    for (const path of CLOUDEVENTS_PATHS) this.routes.set(path, (r) => this.cloudEvents(r));
  }

  /** Mounts another POST path on the same listener, with the same callers (the Kubernetes audit webhook). */
  route(path: string, route: IntakeRoute): void {
    this.routes.set(path, route);
  }

  get port(): number {
    return this.boundPort;
  }

  async listen(): Promise<void> {
    await listenOn(this.server, this.settings.host, this.settings.port);
    this.boundPort = (this.server.address() as net.AddressInfo).port;
    this.deps.logger.info(
      {
        host: this.settings.host,
        port: this.boundPort,
        tls: this.settings.tls !== undefined,
        client_certificates: this.settings.tls?.verify === true,
        tokens: this.settings.auth !== undefined,
        anonymous: this.settings.allow_anonymous,
      },
      'HTTP intake listening',
    );
  }

  /**
   * A reloaded [intake.http]: the token key, issuers, audiences, revoked ids, type grants, body bounds and the TLS
   * files apply to the next request (or handshake); host, port, timeouts and max_connections wait for a restart.
   * Throws (ConfigError, TlsConfigError) before changing anything when a file cannot be used.
   */
  reload(next: IntakeHttpSettings): void {
    const callers = new CallerCheck(next);
    const tls = next.tls && this.server instanceof https.Server ? this.tlsOptions(next) : undefined;
    if (tls !== undefined) (this.server as https.Server).setSecureContext(tls);
    this.callers = callers;
    this.settings = next;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise((r) => this.server.close(r));
    this.server.closeIdleConnections();
    // A request in flight is answered (its commit settles) before its connection goes; keep-alive idlers do not wait.
    const cut = setTimeout(() => this.server.closeAllConnections(), 5_000).unref();
    await closed;
    clearTimeout(cut);
  }

  private tlsOptions(s: IntakeHttpSettings): ServerTlsOptions {
    return loadServerTlsOptions(s.tls!, { section: 'intake.http.tls' });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = this.routes.get(path);
    if (route === undefined)
      return writeAnswer(
        res,
        singleAnswer(
          refusal(
            404,
            IntakeHttpErrorCode.EINTAKE_REQUEST,
            `no such path (POST ${[...this.routes.keys()].join(', ')})`,
          ),
        ),
        true,
      );
    const handshake = CLOUDEVENTS_PATHS.has(path);
    // Before the caller's check: the handshake establishes no authentication context (http-webhook.md section 4),
    // grants nothing a POST would not verify again, and a sender need not send its credential with it.
    if (handshake && req.method === 'OPTIONS') return this.handshake(req, res);
    if (req.method !== 'POST') {
      const what = handshake
        ? 'only POST (and OPTIONS, the webhook handshake) is served here'
        : 'only POST is served here';
      const a = singleAnswer(refusal(405, IntakeHttpErrorCode.EINTAKE_REQUEST, what), {
        allow: handshake ? HANDSHAKE_ALLOW : 'POST',
      });
      return writeAnswer(res, a, true);
    }
    const verdict = await this.callers.check(req);
    if (!verdict.ok) {
      this.refusals.note(
        this.deps.logger,
        { reason: verdict.reason, remote: req.socket.remoteAddress },
        verdict.status === 401 ? 'unauthorized' : 'forbidden',
      );
      const code = verdict.status === 401 ? IntakeHttpErrorCode.EINTAKE_AUTH : IntakeHttpErrorCode.EINTAKE_FORBIDDEN;
      return writeAnswer(
        res,
        singleAnswer(refusal(verdict.status, code, verdict.reason), { 'www-authenticate': verdict.challenge }),
        true,
      );
    }
    // A coded body would be stored as its coded bytes (binary mode's data_base64) or refused as "not JSON": refused
    // as unsupported instead (RFC 9110 section 15.5.16), before it is read.
    const coding = req.headers['content-encoding']?.trim().toLowerCase();
    if (coding !== undefined && coding !== '' && coding !== 'identity') {
      const reason = `Content-Encoding ${JSON.stringify(coding.slice(0, 64))} is not supported: send the body uncoded`;
      const a = singleAnswer(refusal(415, IntakeHttpErrorCode.EINTAKE_MEDIA_TYPE, reason), {
        'accept-encoding': 'identity',
      });
      return writeAnswer(res, a, true);
    }
    let unread = true;
    const settings = this.settings;
    const maxPayloadBytes = this.deps.maxPayloadBytes();
    const ctx: RouteContext = {
      req,
      caller: verdict.caller,
      settings,
      maxPayloadBytes,
      body: async (limit) => {
        const body = await readBody(req, limit, () => {
          if (req.headers.expect?.toLowerCase() === '100-continue' && !res.headersSent) res.writeContinue();
        });
        if (body === TOO_LARGE) return undefined;
        unread = false;
        return body;
      },
      submit: (values, tooLarge) => this.submit(verdict.caller, values, tooLarge, maxPayloadBytes),
    };
    const answer = await route(ctx);
    // A body left unread (refused before or while reading it) is not drained: the connection ends with the answer.
    writeAnswer(res, answer, unread && !req.complete);
  }

  /** OPTIONS / and /events: the webhook handshake; a refusal is counted with the callers refused. */
  private handshake(req: http.IncomingMessage, res: http.ServerResponse): void {
    const answer = webhookHandshake(req, this.settings);
    if (answer.status !== 200) {
      const reason = (answer.body as { error: { reason: string } }).error.reason;
      this.refusals.note(this.deps.logger, { reason, remote: req.socket.remoteAddress }, 'handshake');
    }
    // A body (none is expected) is never read: the connection ends with the answer then.
    const bodyless = req.headers['transfer-encoding'] === undefined && Number(req.headers['content-length'] ?? 0) === 0;
    writeAnswer(res, answer, !bodyless);
  }

  /** POST / and /events: one event (structured, binary) or a batch. */
  private async cloudEvents(r: RouteContext): Promise<HttpAnswer> {
    const headers = r.req.headersDistinct as Headers;
    const mode = bindingMode(headers);
    if (!mode.ok) return singleAnswer(refusal(415, IntakeHttpErrorCode.EINTAKE_MEDIA_TYPE, mode.refusal.reason));
    const batch = mode.mode === 'batch';
    const limit = batch ? r.settings.max_body : r.maxPayloadBytes;
    const body = await r.body(limit);
    if (body === undefined) {
      const what = batch ? `[intake.http] max_body (${limit} bytes)` : `[service] max_payload (${limit} bytes)`;
      return singleAnswer(refusal(413, IntakeHttpErrorCode.EINTAKE_TOO_LARGE, `the body is over ${what}`));
    }
    if (batch) {
      const parsed = batchEvents(body, { maxBatch: r.settings.max_batch, maxPayloadBytes: r.maxPayloadBytes });
      if (!parsed.ok) return singleAnswer(bindingRefusal(parsed.refusal));
      const outcomes = await r.submit(parsed.events, parsed.tooLarge);
      return batchAnswer(outcomes, outcomes.some((o) => o.status === 403) ? TYPE_CHALLENGE : {});
    }
    const parsed = mode.mode === 'binary' ? binaryEvent(headers, body) : structuredEvent(body);
    if (!parsed.ok) return singleAnswer(bindingRefusal(parsed.refusal));
    const [outcome] = await r.submit([parsed.event]);
    return singleAnswer(outcome!, outcome!.status === 403 ? TYPE_CHALLENGE : {});
  }

  /** Refusals of the caller's own (types it may not produce, elements too large), the rest into the intake. */
  private async submit(
    caller: Caller,
    values: readonly unknown[],
    tooLarge: ReadonlySet<number> | undefined,
    maxPayloadBytes: number,
  ): Promise<Outcome[]> {
    const outcomes: (Outcome | undefined)[] = new Array(values.length);
    const taken: unknown[] = [];
    const at: number[] = [];
    const catalogue = this.deps.catalogue();
    values.forEach((v, i) => {
      const type = typeof v === 'object' && v !== null ? (v as { type?: unknown }).type : undefined;
      if (tooLarge?.has(i)) {
        outcomes[i] = refusal(
          413,
          IntakeHttpErrorCode.EINTAKE_TOO_LARGE,
          `over [service] max_payload (${maxPayloadBytes} bytes)`,
        );
      } else if (typeof type === 'string' && !typeGranted(type, caller.grants, catalogue)) {
        const reason = `this caller may not produce events of type ${JSON.stringify(type.slice(0, 128))}`;
        outcomes[i] = refusal(403, IntakeHttpErrorCode.EINTAKE_FORBIDDEN, reason, 'type');
      } else {
        taken.push(v);
        at.push(i);
      }
    });
    const intake = this.deps.intake();
    if (taken.length > 0) {
      const results = intake
        ? await intake.submit(taken, caller.auth)
        : taken.map(() => ({ ok: false as const, error: storeDown }));
      results.forEach((r, j) => (outcomes[at[j]!] = outcomeOf(r)));
    }
    return outcomes as Outcome[];
  }
}

const storeDown = {
  code: EventReplyErrorCode.EEVENT_STORE,
  reason: 'not stored: the event intake is not running; retrying with the same id is safe',
};

function bindingRefusal(r: { status: number; field?: string; reason: string }): Outcome {
  if (r.status === 413) return refusal(413, IntakeHttpErrorCode.EINTAKE_TOO_LARGE, r.reason);
  return outcomeOf({
    ok: false,
    error: {
      code: EventReplyErrorCode.EEVENT_INVALID,
      reason: r.reason,
      ...(r.field !== undefined && { field: r.field }),
    },
  });
}

/**
 * The body up to `limit` bytes; TOO_LARGE, without reading on, past it (Content-Length says so, or the bytes do).
 * `onRead` is called once the body is to be read (a 100 Continue is sent then).
 */
function readBody(req: http.IncomingMessage, limit: number, onRead: () => void): Promise<Buffer | typeof TOO_LARGE> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve(TOO_LARGE);
  onRead();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        resolve(TOO_LARGE);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => onError(new Error('the request was aborted'));
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
