// NATS message headers: the `NATS/1.0[ status[ description]]\r\n` block of HPUB/HMSG, as nats-server and the
// official clients write it (ADR-4). Encoding preserves name case; decoding keeps repeated names as lists.

export type HeaderValues = Record<string, string | string[]>;

export interface DecodedHeaders {
  /** The status code on the first line (e.g. 503 for no responders), when present. */
  status?: number;
  description?: string;
  headers: HeaderValues;
}

const PREFIX = 'NATS/1.0';

/** The 16-byte header block nats-server sends as the no-responders reply (client.go noRespondersHdr). */
export const NO_RESPONDERS_HEADER = Buffer.from('NATS/1.0 503\r\n\r\n');

export function encodeHeaders(headers: HeaderValues, status?: { code: number; description?: string }): Buffer {
  let s = PREFIX;
  if (status) s += ` ${status.code}${status.description ? ` ${status.description}` : ''}`;
  s += '\r\n';
  for (const name of Object.keys(headers)) {
    if (!isValidHeaderName(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
    const value = headers[name]!;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (/[\r\n]/.test(v)) throw new TypeError(`header ${name} has a line break in its value`);
      s += `${name}: ${v}\r\n`;
    }
  }
  s += '\r\n';
  return Buffer.from(s, 'utf8');
}

export function decodeHeaders(block: Uint8Array): DecodedHeaders {
  const text = Buffer.from(block.buffer, block.byteOffset, block.byteLength).toString('utf8');
  const lines = text.split('\r\n');
  const first = lines[0] ?? '';
  const out: DecodedHeaders = { headers: {} };
  if (first.startsWith(PREFIX)) {
    const rest = first.slice(PREFIX.length).trim();
    if (rest.length > 0) {
      const sp = rest.indexOf(' ');
      const code = Number(sp === -1 ? rest : rest.slice(0, sp));
      if (Number.isInteger(code)) out.status = code;
      if (sp !== -1) out.description = rest.slice(sp + 1).trim();
    }
  }
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    const prev = out.headers[name];
    if (prev === undefined) out.headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out.headers[name] = [prev, value];
  }
  return out;
}

/** RFC 7230 token characters, as the clients enforce for header names. */
export function isValidHeaderName(name: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name);
}
