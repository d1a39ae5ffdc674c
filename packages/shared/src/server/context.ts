// What a client connection reads from the server that accepted it: the limits it enforces (read on use so a reload
// reaches live connections), its counters, and the INFO it is greeted with. The server's hooks, which name the
// client, are client.ts's (ClientContext), which re-exports these types.
import { infoLine } from '../protocol/index.js';

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

export interface ClientStats {
  inMsgs: number;
  inBytes: number;
  outMsgs: number;
  outBytes: number;
}

/** The INFO line for client `cid` (its greeting, or a later one with `extra`: lame duck, changed limits). */
export function clientInfo(ctx: { serverInfo(): Record<string, unknown> }, cid: number, remoteAddress: string, extra: Record<string, unknown> = {}): string {
  return infoLine({ ...ctx.serverInfo(), client_id: cid, client_ip: remoteAddress, ...extra });
}
