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
export function hmsgLine(subject: string, sid: string, reply: string | undefined, hdrLen: number, total: number): string {
  return reply === undefined || reply.length === 0
    ? `HMSG ${subject} ${sid} ${hdrLen} ${total}\r\n`
    : `HMSG ${subject} ${sid} ${reply} ${hdrLen} ${total}\r\n`;
}

/** `PUB`/`HPUB` as a client (or the gateway as a client) writes them. */
export function pubLine(subject: string, reply: string | undefined, hdrLen: number, total: number): string {
  const r = reply === undefined || reply.length === 0 ? '' : ` ${reply}`;
  return hdrLen > 0 ? `HPUB ${subject}${r} ${hdrLen} ${total}\r\n` : `PUB ${subject}${r} ${total}\r\n`;
}
