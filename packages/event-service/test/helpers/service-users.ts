// What the service-users-*.test.ts files share: our event service and, when installed, nats-server 2.9, each given
// the same users (ours as [[service.users]], nats-server in its own `authorization { users }`), with a reload that
// puts new users in force on each, and the raw-protocol steps the tests speak to them (login, exchange, refusal).
// The tests themselves are those files'.
import type { TestContext } from 'node:test';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { createLogger } from '@event-broker/shared';
import { natsServerInstalled, startNatsServer } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { connectRaw, type Endpoint, type RawConn } from '@event-broker/test-support/raw';
import { resolveServiceConfig } from '../../src/config.js';
import type { ServiceSection, ServiceUser } from '../../src/config-types.js';
import { EventServer } from '../../src/server.js';

export const HOST = '127.0.0.1';
export const WAIT_MS = 5000;
// Cost 4 (bcrypt's least) keeps the suite quick; nats-server accepts it as any other.
export const hash = (password: string, spelling: '2a' | '2b' | '2y' = '2a') =>
  bcrypt.hashSync(password, 4).replace(/^\$2b\$/, `$${spelling}$`);

// --- the two servers -------------------------------------------------------------------------------------------

export interface Side {
  readonly name: 'event-service' | 'nats-server';
  readonly endpoint: Endpoint;
  /** Puts `users` (none: no authorization) in force as a reload does (SIGHUP for nats-server, applyConfig for ours). */
  reload(users: ServiceUser[] | undefined): Promise<void>;
}

export interface Ours extends Side {
  readonly server: EventServer;
  /** Every log line so far (JSON, level debug). */
  logs(): string;
}

export async function ours(t: TestContext, users: ServiceUser[], extra: Partial<ServiceSection> = {}): Promise<Ours> {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger({ format: 'json', level: 'debug', destination });
  const config = (u: ServiceUser[] | undefined) =>
    resolveServiceConfig({ service: { host: HOST, port: 0, ...extra, ...(u !== undefined && { users: u }) } });
  const server = new EventServer(config(users), logger, { handlers: false });
  await server.listen();
  t.after(() => server.close());
  return {
    name: 'event-service',
    endpoint: { host: HOST, port: server.port },
    server,
    logs: () => lines.join(''),
    reload: async (next) => void server.applyConfig(config(next)),
  };
}

/** nats-server's spelling of the same users (none: no authorization block). */
function natsAuthorization(users: ServiceUser[] | undefined): string {
  if (users === undefined) return '';
  const q = JSON.stringify;
  const list = (l: string[] | undefined) => `[${(l ?? []).map((s) => q(s)).join(', ')}]`;
  const entry = (u: ServiceUser) => {
    const p = u.permissions;
    const perms = [];
    if (p?.publish)
      perms.push(
        `publish: { ${p.publish.allow ? `allow: ${list(p.publish.allow)}, ` : ''}${p.publish.deny ? `deny: ${list(p.publish.deny)}` : ''} }`,
      );
    if (p?.subscribe)
      perms.push(
        `subscribe: { ${p.subscribe.allow ? `allow: ${list(p.subscribe.allow)}, ` : ''}${p.subscribe.deny ? `deny: ${list(p.subscribe.deny)}` : ''} }`,
      );
    if (p?.allow_responses)
      perms.push(`allow_responses: { max: ${p.allow_responses.max}, expires: "${p.allow_responses.expires}ms" }`);
    return `{ user: ${q(u.user)}, password: ${q(u.password)}${perms.length > 0 ? `, permissions: { ${perms.join(', ')} }` : ''} }`;
  };
  return `authorization { users = [ ${users.map(entry).join(', ')} ] }`;
}

async function theirs(t: TestContext, users: ServiceUser[]): Promise<Side> {
  const port = await freePort();
  const conf = (u: ServiceUser[] | undefined) => [`listen: "${HOST}:${port}"`, natsAuthorization(u)];
  const child = await startNatsServer(t, conf(users), port);
  return { name: 'nats-server', endpoint: { host: HOST, port }, reload: (next) => child.reload(conf(next)) };
}

/** Ours and, when installed, nats-server (required under CI), each given `users`. */
export async function sides(t: TestContext, users: ServiceUser[]): Promise<[Ours, ...Side[]]> {
  const out: [Ours, ...Side[]] = [await ours(t, users)];
  if (natsServerInstalled()) out.push(await theirs(t, users));
  else if (process.env['CI'])
    throw new Error('nats-server is not installed (apt-get install nats-server; .ci/run installs it)');
  else t.diagnostic('nats-server is not installed: our side only');
  return out;
}

// --- the wire --------------------------------------------------------------------------------------------------

export async function raw(t: TestContext, side: Side): Promise<RawConn> {
  const conn = await connectRaw(side.endpoint, { timeoutMs: WAIT_MS });
  t.after(() => conn.close());
  return conn;
}

/** A raw connection admitted as `user`. */
export async function login(t: TestContext, side: Side, user: string, pass: string): Promise<RawConn> {
  const conn = await raw(t, side);
  conn.send(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, user, pass })}\r\nPING\r\n`);
  await conn.expect(/^PONG\r\n/, WAIT_MS);
  return conn;
}

/** Sends `ops` (each a line, or a PUB with its payload) then PING; the lines that came back before the PONG. */
export async function exchange(conn: RawConn, ops: string[]): Promise<string[]> {
  conn.send(`${ops.map((l) => `${l}\r\n`).join('')}PING\r\n`);
  const m = await conn.expect(/^([\s\S]*?)PONG\r\n/, WAIT_MS);
  return m[1]!.split('\r\n').filter((l) => l !== '');
}

/** A CONNECT that is refused: what came back after the INFO, and that the server closed. */
export async function refusal(t: TestContext, side: Side, connect: Record<string, unknown>): Promise<string> {
  const conn = await raw(t, side);
  conn.send(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...connect })}\r\nPING\r\n`);
  return (await conn.expectClosed(WAIT_MS)).rest;
}

export const AUTH_VIOLATION = "-ERR 'Authorization Violation'\r\n";
