// /connz: one entry per client connection, open or recently closed, with nats-server's query parameters (sort,
// limit, offset, subs, state, cid, auth) and field names (monitor.go Connz/ConnInfo, monitor_sort_opts.go), for any
// process running a ClientFrontend. Closed connections are kept in a bounded ring the process fills as clients go;
// what a process adds about a client (the gateway's token identity) comes through ConnzOptions.
import crypto from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { CloseReason } from '../protocol/index.js';
import type { Client } from '../server/client.js';
import { goDuration, rfc3339, uptime } from './format.js';
import { MonitorRequestError, queryBool, queryInt, queryPage, querySubs } from './query.js';

/** nats-server DefaultConnListSize. */
export const CONNZ_DEFAULT_LIMIT = 1024;
/** nats-server DefaultMaxClosedClients: how many closed connections /connz?state=closed remembers. */
export const MAX_CLOSED_CLIENTS = 10_000;

/** What /connz reads from the process. */
export interface ConnzSource {
  readonly serverId: string;
  readonly clients: ReadonlyMap<number, Client>;
}

/** What a process adds to each connection's entry. */
export interface ConnzOptions {
  /** Fields appended to the entry (after nats-server's); read when the snapshot is taken. */
  extra?(client: Client): Record<string, unknown> | undefined;
  /** `authorized_user` with `?auth=1` (nats-server shows the user; never a secret here). */
  authorizedUser?(client: Client): string | undefined;
}

/** nats-server monitor.go TLSPeerCert. */
export interface TlsPeerCert {
  subject: string;
  spki_sha256: string;
  cert_sha256: string;
}

/** The TLS session as /connz shows it (nats-server: tls_version, tls_cipher_suite, tls_peer_certs). */
export interface TlsSnapshot {
  version: string;
  cipher: string;
  peerCerts: TlsPeerCert[];
}

/** One connection as /connz shows it, taken from a live client or kept when it closed. */
export interface ConnSnapshot {
  cid: number;
  type: 'nats' | 'websocket';
  ip: string;
  port: number;
  start: number; // epoch ms
  lastActivity: number; // epoch ms
  stop?: number; // epoch ms, closed connections only
  reason?: CloseReason;
  pendingBytes: number;
  rttMs: number;
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
  name: string;
  lang: string;
  version: string;
  tls?: TlsSnapshot;
  authorizedUser?: string;
  extra?: Record<string, unknown>;
  subs: { subject: string; queue: string | undefined; sid: string; msgs: number }[];
}

// A session's TLS facts never change: read (and hashed) once per client.
const tlsFacts = new WeakMap<Client, TlsSnapshot | null>();

function tlsOf(c: Client): TlsSnapshot | undefined {
  let facts = tlsFacts.get(c);
  if (facts === undefined) {
    const socket = c.transport.tlsSocket();
    facts = socket === undefined ? null : readTls(socket);
    // Not cached while the handshake is unfinished (nothing to read yet).
    if (facts !== null || socket === undefined) tlsFacts.set(c, facts);
  }
  return facts ?? undefined;
}

function readTls(socket: TLSSocket): TlsSnapshot | null {
  const protocol = socket.getProtocol();
  const cipher = socket.getCipher() as { name: string; standardName?: string } | undefined;
  if (protocol === null || cipher === undefined) return null;
  const peerCerts: TlsPeerCert[] = [];
  // The chain as the handshake saw it, leaf first (nats-server lists ConnectionState().PeerCertificates).
  let cert = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert !== undefined && cert.raw !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    try {
      const x = new crypto.X509Certificate(cert.raw);
      peerCerts.push({
        subject: goDistinguishedName(x.subject),
        spki_sha256: crypto
          .createHash('sha256')
          .update(x.publicKey.export({ type: 'spki', format: 'der' }))
          .digest('hex'),
        cert_sha256: crypto.createHash('sha256').update(cert.raw).digest('hex'),
      });
    } catch {
      break;
    }
    if (cert.issuerCertificate === undefined || cert.issuerCertificate === cert) break;
    cert = cert.issuerCertificate;
  }
  return {
    // nats-server monitor.go tlsVersion: "1.2", "1.3".
    version: protocol.replace(/^TLSv/, ''),
    // Go names suites by their IANA name, as OpenSSL's standardName does.
    cipher: cipher.standardName ?? cipher.name,
    peerCerts,
  };
}

/** Go's pkix.Name.String(): the RDNs last to first, comma-separated (`CN=dev-client,O=Example`). */
function goDistinguishedName(subject: string): string {
  return subject.split('\n').filter(Boolean).reverse().join(',');
}

export function snapshotClient(c: Client, opts: ConnzOptions = {}, closedAt?: number): ConnSnapshot {
  const snap: ConnSnapshot = {
    cid: c.cid,
    type: c.transport.kind === 'websocket' ? 'websocket' : 'nats',
    ip: c.transport.remoteAddress,
    port: c.transport.remotePort,
    start: c.startedAt,
    lastActivity: c.lastActivity,
    pendingBytes: closedAt === undefined ? c.pendingBytes : 0,
    rttMs: c.rttMs,
    inMsgs: c.stats.inMsgs,
    outMsgs: c.stats.outMsgs,
    inBytes: c.stats.inBytes,
    outBytes: c.stats.outBytes,
    name: c.name,
    lang: c.lang,
    version: c.version,
    subs: [...c.subs.values()].map((s) => ({ subject: s.subject, queue: s.queue, sid: s.sid, msgs: s.delivered })),
  };
  const tls = tlsOf(c);
  if (tls !== undefined) snap.tls = tls;
  const user = opts.authorizedUser?.(c);
  if (user !== undefined) snap.authorizedUser = user;
  const extra = opts.extra?.(c);
  if (extra !== undefined) snap.extra = extra;
  if (closedAt !== undefined) {
    snap.stop = closedAt;
    if (c.closeReason !== undefined) snap.reason = c.closeReason;
  }
  return snap;
}

/** Recently closed connections, oldest dropped first. */
export class ClosedConnections {
  private readonly ring: ConnSnapshot[] = [];
  private next = 0;

  constructor(
    private readonly max = MAX_CLOSED_CLIENTS,
    private readonly opts: ConnzOptions = {},
  ) {}

  record(client: Client): void {
    const snap = snapshotClient(client, this.opts, Date.now());
    if (this.ring.length < this.max) this.ring.push(snap);
    else this.ring[this.next] = snap;
    this.next = (this.next + 1) % this.max;
  }

  list(): ConnSnapshot[] {
    return [...this.ring];
  }
}

type SortKey = (a: ConnSnapshot, b: ConnSnapshot, now: number) => number;

// Directions as nats-server's monitor_sort_opts.go: cid and start ascending, reason by text, everything else
// largest first. Ties keep cid order (the list is sorted by cid before).
const desc =
  (f: (c: ConnSnapshot, now: number) => number): SortKey =>
  (a, b, now) =>
    f(b, now) - f(a, now);
const SORTS: Record<string, SortKey> = {
  cid: (a, b) => a.cid - b.cid,
  start: (a, b) => a.start - b.start,
  subs: desc((c) => c.subs.length),
  pending: desc((c) => c.pendingBytes),
  msgs_to: desc((c) => c.outMsgs),
  msgs_from: desc((c) => c.inMsgs),
  bytes_to: desc((c) => c.outBytes),
  bytes_from: desc((c) => c.inBytes),
  last: desc((c) => c.lastActivity),
  idle: desc((c, now) => now - c.lastActivity),
  uptime: desc((c, now) => (c.stop ?? now) - c.start),
  stop: desc((c) => c.stop ?? 0),
  reason: (a, b) => (a.reason ?? '').localeCompare(b.reason ?? ''),
  // nats-server 2.10's addition (2.9 refuses it).
  rtt: desc((c) => c.rttMs),
};

/** `opts.closed` serves ?state=closed and any; without it only open connections are listed. */
export function connz(
  src: ConnzSource,
  q: URLSearchParams,
  opts: ConnzOptions & { closed?: ClosedConnections } = {},
): Record<string, unknown> {
  const closed = opts.closed;
  const sortName = q.get('sort') || 'cid';
  const sort = SORTS[sortName];
  if (sort === undefined) throw new MonitorRequestError(`invalid sorting option: ${sortName}`);
  const state = q.get('state') || 'open';
  if (state !== 'open' && state !== 'closed' && state !== 'any') {
    throw new MonitorRequestError(`invalid connection state: ${state}`);
  }
  if ((sortName === 'stop' || sortName === 'reason') && state === 'open') {
    throw new MonitorRequestError(`sort by ${sortName} only valid on closed connections`);
  }
  const subs = querySubs(q);
  let { offset, limit } = queryPage(q, CONNZ_DEFAULT_LIMIT);
  const cid = queryInt(q, 'cid');
  const auth = queryBool(q, 'auth');

  const now = Date.now();
  let conns: ConnSnapshot[] = [];
  if (state !== 'closed') for (const c of src.clients.values()) conns.push(snapshotClient(c, opts));
  if (state !== 'open' && closed !== undefined) conns.push(...closed.list());
  if (cid > 0) {
    // A single connection asked for by id: paging does not apply (nats-server monitor.go Connz).
    conns = conns.filter((c) => c.cid === cid);
    offset = 0;
  }
  conns.sort((a, b) => a.cid - b.cid);
  if (sortName !== 'cid') conns.sort((a, b) => sort(a, b, now));
  const total = conns.length;
  const page = conns.slice(offset, offset + limit);
  return {
    server_id: src.serverId,
    now: rfc3339(now),
    num_connections: page.length,
    total,
    offset,
    limit,
    connections: page.map((c) => connInfo(c, now, subs, auth)),
  };
}

function connInfo(
  c: ConnSnapshot,
  now: number,
  subs: 'none' | 'list' | 'detail',
  auth: boolean,
): Record<string, unknown> {
  const end = c.stop ?? now;
  const info: Record<string, unknown> = {
    cid: c.cid,
    kind: 'Client',
    type: c.type,
    ip: c.ip,
    port: c.port,
    start: rfc3339(c.start),
    last_activity: rfc3339(c.lastActivity),
  };
  if (c.stop !== undefined) {
    info.stop = rfc3339(c.stop);
    info.reason = c.reason ?? '';
  }
  Object.assign(info, {
    // Measured on the server's periodic PING; "0s" until the first one is answered.
    rtt: goDuration(c.rttMs),
    uptime: uptime(end - c.start),
    idle: uptime(end - c.lastActivity),
    pending_bytes: c.pendingBytes,
    in_msgs: c.inMsgs,
    out_msgs: c.outMsgs,
    in_bytes: c.inBytes,
    out_bytes: c.outBytes,
    subscriptions: c.subs.length,
  });
  // nats-server leaves empty name/lang/version out (omitempty).
  if (c.name) info.name = c.name;
  if (c.lang) info.lang = c.lang;
  if (c.version) info.version = c.version;
  if (c.tls !== undefined) {
    info.tls_version = c.tls.version;
    info.tls_cipher_suite = c.tls.cipher;
    // With auth=1 only, as nats-server 2.9 gives them (monitor.go fill: the peer's chain is auth information).
    if (auth && c.tls.peerCerts.length > 0) info.tls_peer_certs = c.tls.peerCerts;
  }
  if (auth && c.authorizedUser !== undefined) info.authorized_user = c.authorizedUser;
  if (subs === 'list' && c.subs.length > 0) info.subscriptions_list = c.subs.map((s) => s.subject);
  if (subs === 'detail' && c.subs.length > 0) {
    info.subscriptions_list_detail = c.subs.map((s) => ({
      subject: s.subject,
      ...(s.queue !== undefined && { qgroup: s.queue }),
      sid: s.sid,
      msgs: s.msgs,
      cid: c.cid,
    }));
  }
  if (c.extra !== undefined) Object.assign(info, c.extra);
  return info;
}
