// What a client connection reads from the server that accepted it: the limits it enforces (read on use so a reload
// reaches live connections), the server's hooks, its counters, and the INFO it is greeted with. The hooks name the
// client by a type parameter: client.ts instantiates them for Client (ClientContext, ClientAuthenticator) and
// re-exports these types, so neither module imports the other.
import { infoLine, type CloseReason } from '../protocol/index.js';
import type { Logger } from '../log.js';
import type { Admission } from './admission.js';
import type { Broker } from './broker.js';

/** The NATS limits a connection enforces (nats-server option names; durations in ms, sizes in bytes). */
export interface ClientLimits {
  readonly max_control_line: number;
  readonly max_payload: number;
  readonly max_pending: number;
  /** Per connection; 0 = no limit. */
  readonly max_subscriptions: number;
  readonly ping_interval: number;
  readonly ping_max: number;
  readonly write_deadline: number;
  readonly auth_timeout: number;
}

/** What a client (`C`) needs from the server that accepted it. */
export interface ClientContextOf<C> {
  readonly broker: Broker;
  /** The limits in force; read on use so a reload reaches live connections. */
  readonly limits: ClientLimits;
  /** Read on use (a reload can add or remove a token); undefined: no authentication. */
  readonly authenticator: ClientAuthenticatorOf<C> | undefined;
  readonly logger: Logger;
  /** Its clients are the process's own machinery (broker.ts Conn.system): their subscriptions are not listeners. */
  readonly systemClients?: boolean;
  /** INFO fields common to every client (server_id, version, limits...). */
  serverInfo(): Record<string, unknown>;
  clientClosed(client: C, reason: CloseReason): void;
}

/** Decides who may connect. A static token answers at once; a JWT check may answer later (reads wait for it). */
export interface ClientAuthenticatorOf<C> {
  admit(connect: Readonly<Record<string, unknown>>, client: C): Admission | Promise<Admission>;
}

export interface ClientStats {
  inMsgs: number;
  inBytes: number;
  outMsgs: number;
  outBytes: number;
}

/** The INFO line for client `cid` (its greeting, or a later one with `extra`: lame duck, changed limits). */
export function clientInfo(
  ctx: { serverInfo(): Record<string, unknown> },
  cid: number,
  remoteAddress: string,
  extra: Record<string, unknown> = {},
): string {
  return infoLine({ ...ctx.serverInfo(), client_id: cid, client_ip: remoteAddress, ...extra });
}
