// Dials a hub's leafnode port as a nats-server 2.9 leaf does (leafnode.go connectToRemoteLeafNode,
// processLeafnodeInfo, leafNodeResumeConnectProcess): TCP, the hub's plaintext INFO, then the TLS handshake on the
// same socket when the URL, our options or the INFO ask for it. What is said after that is uplink-session.ts's.
import net from 'node:net';
import tls from 'node:tls';

/** nats-server's default leafnode port, used when a URL names none. */
export const LEAFNODE_DEFAULT_PORT = 7422;
/** An INFO line longer than this is not a NATS server's (ours are about 400 bytes); the parser's bound too. */
const INFO_LINE_MAX = 1 << 20;

export type UplinkErrorCode =
  /** A URL in the options does not parse or has a scheme other than nats://, tls:// or nats-leaf://. */
  | 'EUPLINK_URL'
  /** TCP connect failed or timed out. */
  | 'EUPLINK_CONNECT'
  /** No INFO, an INFO that is not a leafnode port's, a failed TLS handshake or no PONG after CONNECT, in time. */
  | 'EUPLINK_HANDSHAKE'
  /** The hub sent `-ERR` (refused our CONNECT or certificate, a loop...). */
  | 'EUPLINK_HUB_ERROR'
  /** The hub closed the link, or the network did. */
  | 'EUPLINK_CLOSED'
  /** The hub stopped answering our PINGs (ping_max unanswered). */
  | 'EUPLINK_STALE'
  /** The hub sent what is not the leafnode protocol. */
  | 'EUPLINK_PROTOCOL'
  /** Our loop-detection subject came back, or the hub said `Loop detected`: it reaches us twice. */
  | 'EUPLINK_LOOP'
  /** A `.creds` file that cannot be read or is not one, or a hub that sent no nonce to sign. */
  | 'EUPLINK_CREDENTIALS';

/** Every UplinkErrorCode with what it means. */
export const UPLINK_ERROR_CODES: Readonly<Record<UplinkErrorCode, string>> = {
  EUPLINK_URL: 'an upstream URL does not parse or has an unsupported scheme',
  EUPLINK_CONNECT: 'the upstream did not accept a TCP connection',
  EUPLINK_HANDSHAKE: 'the upstream handshake (INFO, TLS, CONNECT answered by PONG) failed or timed out',
  EUPLINK_HUB_ERROR: 'the upstream sent -ERR',
  EUPLINK_CLOSED: 'the upstream closed the link',
  EUPLINK_STALE: 'the upstream stopped answering PINGs',
  EUPLINK_PROTOCOL: 'the upstream broke the leafnode protocol',
  EUPLINK_LOOP: 'the upstream reaches this leaf twice (leafnode loop); the next attempt waits 30 s',
  EUPLINK_CREDENTIALS: "a remote's `.creds` file cannot be read or is not one, or the upstream sent no nonce to sign",
};

export class UplinkError extends Error {
  override readonly name = 'UplinkError';
  constructor(
    readonly code: UplinkErrorCode,
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? {} : { cause: opts.cause });
  }
}

/** A hub address from the options. */
export interface HubUrl {
  readonly host: string;
  readonly port: number;
  /** `tls://`: TLS whatever the hub's INFO says. */
  readonly tls: boolean;
  /** From `nats://user:pass@host`: sent in CONNECT (nats-server leaf remotes do the same), never logged. */
  readonly user?: string;
  readonly pass?: string;
  /** scheme://host:port, without credentials: what logs and state show. */
  readonly display: string;
}

/** Parses `nats://host:port`, `tls://host:port`, `nats-leaf://host:port` or `host:port` (port 7422 when absent). */
export function parseHubUrl(raw: string): HubUrl {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `nats://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch (err) {
    throw new UplinkError('EUPLINK_URL', `upstream URL ${JSON.stringify(redact(raw))} does not parse`, { cause: err });
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'nats' && scheme !== 'tls' && scheme !== 'nats-leaf') {
    throw new UplinkError(
      'EUPLINK_URL',
      `upstream URL ${JSON.stringify(redact(raw))}: scheme ${scheme}:// is not nats://, tls:// or nats-leaf://`,
    );
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new UplinkError('EUPLINK_URL', `upstream URL ${JSON.stringify(redact(raw))} names no host`);
  const port = u.port === '' ? LEAFNODE_DEFAULT_PORT : Number(u.port);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    port,
    tls: scheme === 'tls',
    ...(u.username !== '' && { user: decodeURIComponent(u.username) }),
    ...(u.password !== '' && { pass: decodeURIComponent(u.password) }),
    display: `${scheme}://${shownHost}:${port}`,
  };
}

/** 127.0.0.0/8, ::1 and localhost: only processes on this machine reach them (nothing crosses a network). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/** A URL with its password masked, for error messages. */
function redact(raw: string): string {
  return raw.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** The INFO fields of a hub's leafnode port that the leaf acts on. */
export interface HubInfo {
  readonly serverId: string;
  readonly serverName: string;
  readonly version: string;
  readonly headers: boolean;
  readonly tlsRequired: boolean;
  readonly maxPayload: number;
  /** The URL we dialled, without credentials. */
  readonly url: string;
  /** Whether the link runs over TLS. */
  readonly tls: boolean;
  /**
   * The hub has JetStream enabled (INFO `jetstream: true`; nats-server 2.9 server.go Info, sent on the leafnode port
   * too, absent otherwise: observed from 2.9.10).
   */
  readonly jetstream: boolean;
  /** The hub's JetStream domain (INFO `domain`, from its `jetstream { domain: X }`); absent when it has none. */
  readonly domain?: string;
  /** What a `.creds` remote signs in CONNECT (INFO `nonce`: nats-server 2.9 sends one on every leafnode INFO). */
  readonly nonce?: string;
}

export interface DialOptions {
  /** node:tls options (cert, key, ca...) for the handshake; `forceTls` decides whether there is one. */
  readonly tls: tls.ConnectionOptions | undefined;
  /** TLS whatever the INFO says (a tls:// URL or a configured client certificate). */
  readonly forceTls: boolean;
  /** Bounds the whole dial: TCP, INFO and the TLS handshake. */
  readonly timeoutMs: number;
}

export interface DialedHub {
  /**
   * Plaintext: paused after the INFO, so nothing is read until the caller resumes it. TLS: not paused, so it flows
   * as soon as a 'data' callback is attached; the caller pauses it if it must not read yet.
   */
  readonly socket: net.Socket;
  readonly info: HubInfo;
  /** Bytes read after the INFO line (plaintext only; the hub says nothing before our CONNECT in practice). */
  readonly rest: Buffer;
}

/** Connects, reads the INFO and upgrades to TLS when needed; rejects with an UplinkError. */
export function dialHub(url: HubUrl, opts: DialOptions): Promise<DialedHub> {
  return new Promise<DialedHub>((resolve, reject) => {
    const socket = net.connect({ host: url.host, port: url.port });
    socket.setNoDelay(true);
    let step: 'connect' | 'info' | 'tls' = 'connect';
    let settled = false;
    let secure: tls.TLSSocket | undefined;
    const fail = (code: UplinkErrorCode, message: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      secure?.destroy();
      reject(new UplinkError(code, `${url.display}: ${message}`, { cause }));
    };
    const timer = setTimeout(() => {
      const what = step === 'connect' ? 'no TCP connection' : step === 'info' ? 'no INFO' : 'no TLS handshake';
      fail(step === 'connect' ? 'EUPLINK_CONNECT' : 'EUPLINK_HANDSHAKE', `${what} within ${opts.timeoutMs} ms`);
    }, opts.timeoutMs);
    timer.unref?.();
    socket.on('error', (err) => {
      if (step === 'connect') fail('EUPLINK_CONNECT', err.message, err);
      else if (step === 'info') fail('EUPLINK_HANDSHAKE', `reading INFO: ${err.message}`, err);
    });
    socket.once('close', () => {
      if (step === 'info') fail('EUPLINK_HANDSHAKE', 'closed before its INFO');
    });
    socket.once('connect', () => {
      step = 'info';
    });

    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const nl = head.indexOf(0x0a);
      if (nl < 0) {
        if (head.length > INFO_LINE_MAX) fail('EUPLINK_HANDSHAKE', 'no INFO line (not a NATS server)');
        return;
      }
      socket.off('data', onData);
      socket.pause();
      let info: HubInfo;
      try {
        info = parseInfo(head.toString('utf8', 0, nl), url, opts.forceTls);
      } catch (err) {
        fail('EUPLINK_HANDSHAKE', (err as Error).message, err);
        return;
      }
      const rest = head.subarray(nl + 1);
      if (!opts.forceTls && !info.tlsRequired) {
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        // Until the caller's transport listens (it does before any I/O callback can run).
        socket.on('error', () => {});
        resolve({ socket, info, rest: Buffer.from(rest) });
        return;
      }
      // TLS on the socket that carried the INFO, as nats-server leaves do (client.go doTLSClientHandshake).
      step = 'tls';
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      socket.on('error', () => {}); // reported by the TLS socket
      secure = tls.connect({
        minVersion: 'TLSv1.2',
        ...opts.tls,
        socket,
        // The name checked against the hub's certificate; an SNI server name only when it is not an IP address.
        host: url.host,
        ...(net.isIP(url.host) === 0 && { servername: url.host }),
      });
      secure.once('secureConnect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        secure!.removeAllListeners('error');
        secure!.removeAllListeners('close');
        secure!.on('error', () => {});
        resolve({ socket: secure!, info, rest: Buffer.alloc(0) });
      });
      secure.once('error', (err) => fail('EUPLINK_HANDSHAKE', `TLS: ${err.message}`, err));
      secure.once('close', () => fail('EUPLINK_HANDSHAKE', 'TLS: closed during the handshake'));
    };
    socket.on('data', onData);
  });
}

function parseInfo(line: string, url: HubUrl, forceTls: boolean): HubInfo {
  const m = /^INFO\s+(.*?)\s*\r?$/i.exec(line);
  if (m === null)
    throw new Error(`the first line is not an INFO (${JSON.stringify(line.slice(0, 40))}): not a NATS server`);
  let j: unknown;
  try {
    j = JSON.parse(m[1]!);
  } catch (err) {
    throw new Error('INFO is not JSON', { cause: err });
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('INFO is not a JSON object');
  const o = j as Record<string, unknown>;
  // A leafnode port's INFO carries the client id and the leafnode URLs; a client or route port's does not
  // (nats-server leafnode.go processLeafnodeInfo, ErrConnectedToWrongPort).
  if (typeof o.client_id !== 'number' || o.client_id === 0 || !Array.isArray(o.leafnode_urls)) {
    throw new Error("its INFO is not a leafnode port's (no client_id or leafnode_urls): wrong port?");
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const tlsRequired = o.tls_required === true;
  return {
    serverId: str(o.server_id),
    serverName: str(o.server_name) || str(o.server_id),
    version: str(o.version),
    headers: o.headers === true,
    tlsRequired,
    maxPayload: typeof o.max_payload === 'number' ? o.max_payload : 0,
    url: url.display,
    tls: tlsRequired || forceTls,
    jetstream: o.jetstream === true,
    ...(str(o.domain) !== '' && { domain: str(o.domain) }),
    ...(str(o.nonce) !== '' && { nonce: str(o.nonce) }),
  };
}
