// What the [intake.http] tests share: an in-process service with the listener (EventServer, so the listener's
// port is at hand) and its embedded handle for feed queries, a real node:http(s) POST, HS256 tokens signed here
// (node:crypto; the service verifies them with jose), and the stored event as the feed answers it.
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { createLogger } from '@event-broker/shared';
import { tmpDir, write, type AfterHook } from '@event-broker/test-support/tmp';
import { resolveServiceConfig, type ServiceConfigInputWithUnits } from '../../src/config.js';
import { embed } from '../../src/embedded.js';
import type { EventService } from '../../src/index.js';
import { EventServer } from '../../src/server.js';

export const HOST = '127.0.0.1';
export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'event-intake';
/** 32 bytes: what HS256 needs at least. */
export const SECRET = 'intake-http-test-secret-0123456789abcdef';

export interface IntakeService {
  server: EventServer;
  svc: EventService;
  /** The listener's port. */
  port: number;
  dir: string;
}

/** The secret file an [intake.http.auth] section names, written in `dir`. */
export function secretFile(dir: string): string {
  return write(dir, 'jwt-secret', SECRET, 0o600);
}

/** Token auth settings for [intake.http.auth], with the secret written in `dir`. */
export function tokenAuth(dir: string, more: Record<string, unknown> = {}): Record<string, unknown> {
  return { secret_path: secretFile(dir), issuer: ISSUER, audience: AUDIENCE, ...more };
}

/** A service with [store] in a temporary directory and [intake.http] as given (its port 0), closed after the test. */
export async function startIntakeService(
  t: AfterHook,
  http: Record<string, unknown>,
  more: ServiceConfigInputWithUnits = {},
  dir = tmpDir(t),
): Promise<IntakeService> {
  const config = resolveServiceConfig({
    service: { host: HOST, port: 0 },
    store: { path: path.join(dir, 'events.db') },
    log: { level: 'silent' },
    ...more,
    intake: { http: { host: HOST, port: 0, ...http } },
  } as ServiceConfigInputWithUnits);
  const logger = createLogger({ format: config.log.format, level: config.log.level, name: 'event-service' });
  const server = new EventServer(config, logger);
  await server.listen();
  const svc = embed(server, logger);
  t.after(() => svc.close());
  return { server, svc, port: server.httpIntake!.port, dir };
}

/** An HS256 JWT over `claims` (iss, aud, exp filled in unless given). */
export function token(claims: Record<string, unknown>, secret = SECRET): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = b64({ iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 600, ...claims });
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any; // each test reads the shape it expects
}

export interface PostOptions {
  path?: string;
  method?: string;
  headers?: Record<string, string | string[]>;
  /** https with these (a CA to trust, a client certificate). */
  tls?: { ca: string; cert?: string; key?: string };
  agent?: http.Agent;
}

/** One request with a real node:http(s) client; resolves with the answer (bounded by `ms`). */
export function post(port: number, body: string | Buffer, opts: PostOptions = {}, ms = 10_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const lib = opts.tls ? https : http;
    const req = lib.request(
      {
        host: HOST,
        port,
        path: opts.path ?? '/events',
        method: opts.method ?? 'POST',
        headers: { 'content-length': Buffer.byteLength(body), ...opts.headers },
        ...(opts.tls && { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key, servername: 'localhost' }),
        ...(opts.agent && { agent: opts.agent }),
        timeout: ms,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ms} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export const STRUCTURED = { 'content-type': 'application/cloudevents+json' };
export const BATCH = { 'content-type': 'application/cloudevents-batch+json' };

export const event = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  specversion: '1.0',
  id,
  source: '/t',
  type: 'nodeTerminated',
  ...extra,
});

export interface Stored {
  id: string;
  type: string;
  authtype?: string;
  authid?: string;
  authclaims?: string;
  data?: unknown;
  data_base64?: string;
  datacontenttype?: string;
  [k: string]: unknown;
}

/** The stored event `id` as the feed answers it, or undefined while it is not stored. */
export async function stored(svc: EventService, id: string): Promise<Stored | undefined> {
  const answer = JSON.parse(
    (await svc.request('$EVENTS.FEED.QUERY', JSON.stringify({ id }), { timeoutMs: 10_000 })).string(),
  ) as { event?: Stored };
  return answer.event;
}
