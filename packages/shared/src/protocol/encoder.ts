// Builds the lines a server writes: INFO, MSG/HMSG headers and the small fixed replies. Message control lines are
// plain string concatenation: V8 turns it into one flat string cheaply and the outbound buffer writes it in place.

export const PING = Buffer.from('PING\r\n');
export const PONG = Buffer.from('PONG\r\n');
export const OK = Buffer.from('+OK\r\n');
export const CRLF = Buffer.from('\r\n');

/** nats-server writes `INFO {json} ` with a space before CRLF; clients accept it either way. */
export function infoLine(info: object): string {
  return `INFO ${JSON.stringify(info)} \r\n`;
}

/** `MSG <subject> <sid> [reply] <size>\r\n` */
export function msgLine(subject: string, sid: string, reply: string | undefined, size: number): string {
  return reply === undefined || reply.length === 0
    ? `MSG ${subject} ${sid} ${size}\r\n`
    : `MSG ${subject} ${sid} ${reply} ${size}\r\n`;
}

/** `HMSG <subject> <sid> [reply] <hdr size> <total size>\r\n` */
export function hmsgLine(
  subject: string,
  sid: string,
  reply: string | undefined,
  hdrLen: number,
  total: number,
): string {
  return reply === undefined || reply.length === 0
    ? `HMSG ${subject} ${sid} ${hdrLen} ${total}\r\n`
    : `HMSG ${subject} ${sid} ${reply} ${hdrLen} ${total}\r\n`;
}

/** `PUB`/`HPUB` as a client (or the gateway as a client) writes them. */
export function pubLine(subject: string, reply: string | undefined, hdrLen: number, total: number): string {
  const r = reply === undefined || reply.length === 0 ? '' : ` ${reply}`;
  return hdrLen > 0 ? `HPUB ${subject}${r} ${hdrLen} ${total}\r\n` : `PUB ${subject}${r} ${total}\r\n`;
}

// --- leafnode links (nats-server leafnode.go writeLeafSub; client.go msgHeaderForRouteOrLeaf) ---------------

/** `LS+ <subject>` or, for a queue group, `LS+ <subject> <queue> <weight>` (weight = the group's member count). */
export function leafSubLine(subject: string, queue: string | undefined, weight: number): string {
  return queue === undefined ? `LS+ ${subject}\r\n` : `LS+ ${subject} ${queue} ${weight}\r\n`;
}

/** `LS- <subject> [<queue>]` */
export function leafUnsubLine(subject: string, queue: string | undefined): string {
  return queue === undefined ? `LS- ${subject}\r\n` : `LS- ${subject} ${queue}\r\n`;
}

/**
 * `LMSG <subject> [reply] <size>`, or with queue groups `LMSG <subject> + <reply> <queues...> <size>` /
 * `LMSG <subject> | <queues...> <size>`. With headers the op is `HMSG` (no sid) and `<hdr size>` precedes the size.
 */
export function leafMsgLine(
  subject: string,
  reply: string | undefined,
  queues: readonly string[],
  hdrLen: number,
  total: number,
): string {
  let line = hdrLen > 0 ? `HMSG ${subject}` : `LMSG ${subject}`;
  const hasReply = reply !== undefined && reply.length > 0;
  if (queues.length > 0) line += hasReply ? ` + ${reply} ${queues.join(' ')}` : ` | ${queues.join(' ')}`;
  else if (hasReply) line += ` ${reply}`;
  return hdrLen > 0 ? `${line} ${hdrLen} ${total}\r\n` : `${line} ${total}\r\n`;
}
