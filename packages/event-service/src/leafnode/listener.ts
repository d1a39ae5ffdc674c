// The [leafnodes] listener (hub side): accepts leaf links over TCP, or TLS with the service's certificate and a
// required client certificate when [tls] is set (INFO in plaintext first, then the handshake, as nats-server 2.9
// does). Who may attach is auth.ts's answer to each CONNECT; until then a socket is unauthenticated, and those are
// bounded in number (max_unauthenticated) and time (the link's connect timer). Admitted links count toward neither
// max_connections nor listener_limit: they carry another server's clients, limited there. The protocol of one link
// is link.ts's.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import {
  Errors,
  InterestTable,
  LeafLink,
  SocketTransport,
  ThrottledWarn,
  endRefusedSocket,
  errLine,
  infoLine,
  loadServerTlsOptions,
  type Broker,
  type ClientLimits,
  type CloseReason,
  type LeafAdmission,
  type LinkContext,
  type Logger,
} from '@event-broker/shared';
import type { ServiceConfig } from '../config-types.js';
import { LeafAuthorizer } from './auth.js';

/** How long a leaf may take to finish the TLS handshake (nats-server's leafnode TLS timeout default is 2s). */
const TLS_HANDSHAKE_MS = 2000;

/** What the listener needs from the server it belongs to. */
export interface LeafnodeHost {
  readonly broker: Broker;
  readonly config: ServiceConfig;
  readonly logger: Logger;
  /** INFO fields common to every connection (server_id, server_name, version, max_payload...). */
  serverInfo(): Record<string, unknown>;
}

export class LeafnodeListener implements LinkContext {
  readonly links = new Map<number, LeafLink>();
  readonly interest: InterestTable;
  /** nats-server's loop detection: `$LDS.` and a random id, sent to every leaf (leafnode.go). */
  readonly loopSubject = `$LDS.${randomBytes(16).toString('base64url').slice(0, 22)}`;
  /** Links admitted since start (a socket that never completed an admitted CONNECT is not a link). */
  totalLinks = 0;
  /** Sockets turned away because max_unauthenticated were waiting (/handlerz, logs). */
  refusedUnauthenticated = 0;
  /** Messages from leaves over max_payload, read past and dropped, every link since start (/metrics). */
  droppedOversize = 0;
  private readonly oversizeWarn = new ThrottledWarn('leafnode message over max_payload dropped; the link stays up');
  private readonly authorizer: LeafAuthorizer;
  /** Link ids accepted and not yet admitted (TLS handshake or CONNECT pending): bounded by max_unauthenticated. */
  private readonly unauthenticated = new Set<number>();
  private readonly refusalWarn = new ThrottledWarn('leafnode connection refused: too many unauthenticated connections');
  private server: net.Server | undefined;
  /**
   * Never listens: accepted sockets are handed to it after the plaintext INFO, so Node enforces the client
   * certificate (a standalone TLSSocket would not; see server.ts createTlsServer).
   */
  private tlsServer: tls.Server | undefined;
  /** Link ids of sockets in their TLS handshake, by peer address, picked up on 'secureConnection'. */
  private readonly handshaking = new Map<string, number>();
  private nextLid = 1;
  private closing = false;
  private boundPort = 0;

  constructor(private readonly host: LeafnodeHost) {
    // Before any link: the table must have seen every subscription a link may be told about.
    this.interest = new InterestTable(host.broker);
    this.authorizer = new LeafAuthorizer(host.config.leafnodes ?? { host: '127.0.0.1', port: 0, max_unauthenticated: 1 });
  }

  get broker(): Broker {
    return this.host.broker;
  }
  get config(): ServiceConfig {
    return this.host.config;
  }
  get limits(): ClientLimits {
    return this.host.config.service;
  }
  get logger(): Logger {
    return this.host.logger;
  }
  get port(): number {
    return this.boundPort;
  }
  /** Links admitted and open now; what /varz, /metrics and /handlerz count (as nats-server's leafnodes). */
  get admittedLinks(): LeafLink[] {
    return [...this.links.values()].filter((l) => l.leaf !== undefined && !l.isClosed);
  }
  /** Sockets accepted and not yet admitted (TLS handshake or CONNECT pending), bounded by max_unauthenticated. */
  get unauthenticatedCount(): number {
    return this.unauthenticated.size;
  }
  /** bcrypt checks of leaf credentials queued or running in the worker now (/handlerz). */
  get bcryptWaiting(): number {
    return this.authorizer.bcryptWaiting;
  }
  get authTimeoutMs(): number {
    return this.config.leafnodes?.authorization?.timeout ?? this.config.service.auth_timeout;
  }

  async listen(): Promise<void> {
    const conf = this.config.leafnodes;
    if (conf === undefined) return;
    if (this.tlsSection !== undefined) this.tlsServer = this.createTlsServer();
    if (!this.authorizer.required) {
      // Loopback only (config.ts refuses this elsewhere): every local process may attach and see every message.
      this.logger.warn(
        { host: conf.host },
        `the leafnode port names no leaf (no [leafnodes.authorization], no verify_and_map): any local process${this.tlsServer ? ' with a certificate of the CA' : ''} may attach`,
      );
    }
    this.authorizer.warm();
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(conf.port, conf.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as net.AddressInfo).port;
    this.logger.info({ host: conf.host, port: this.boundPort, tls: this.tlsServer !== undefined }, 'listening for leafnode connections');
  }

  greeting(lid: number, _remoteAddress: string): string {
    const conf = this.config.leafnodes!;
    const info: Record<string, unknown> = {
      ...this.host.serverInfo(),
      host: conf.host,
      port: this.boundPort,
      client_id: lid,
      // The hub tells leaves where else they may attach (just here; we have no cluster).
      leafnode_urls: [`${conf.host}:${this.boundPort}`],
    };
    // nats-server's leafnode INFO says auth_required when its leafnodes { authorization } is set (observed, 2.9.10).
    if (this.authorizer.required) info.auth_required = true;
    else delete info.auth_required;
    if (this.tlsServer !== undefined) {
      info.tls_required = true;
      info.tls_verify = true;
    } else {
      delete info.tls_required;
      delete info.tls_verify;
    }
    return infoLine(info);
  }

  authorize(link: LeafLink, connect: Readonly<Record<string, unknown>>): LeafAdmission | Promise<LeafAdmission> {
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    const cert = link.transport.tlsSocket()?.getPeerX509Certificate();
    return this.authorizer.authorize({ user: str(connect.user), pass: str(connect.pass), token: str(connect.auth_token) }, cert);
  }

  linkAdmitted(link: LeafLink): void {
    this.unauthenticated.delete(link.cid);
    this.totalLinks++;
  }

  oversizeDropped(link: LeafLink, subject: string, size: number): void {
    this.droppedOversize++;
    this.oversizeWarn.note(this.logger, { lid: link.cid, leaf: link.leaf?.name, subject, bytes: size, max_payload: this.limits.max_payload });
  }

  linkClosed(link: LeafLink, reason: CloseReason): void {
    this.unauthenticated.delete(link.cid);
    if (this.links.delete(link.cid) && link.leaf !== undefined) {
      this.logger.info(
        { lid: link.cid, ip: link.transport.remoteAddress, leaf: link.leaf.name, reason, in_msgs: link.stats.inMsgs, out_msgs: link.stats.outMsgs },
        'leafnode closed',
      );
    }
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {}); // reported through the transport once started
    if (this.closing) {
      socket.destroy();
      return;
    }
    const max = this.config.leafnodes!.max_unauthenticated;
    if (this.unauthenticated.size >= max) {
      // Before any INFO or TLS: a flood of silent sockets costs a write and a close each.
      this.refuseUnauthenticated(socket, max);
      return;
    }
    const lid = this.nextLid++;
    this.unauthenticated.add(lid);
    // Closed before a link took it over (a failed or abandoned TLS handshake): no longer waiting.
    socket.once('close', () => {
      if (!this.links.has(lid)) this.unauthenticated.delete(lid);
    });
    if (this.tlsServer === undefined) {
      this.startLink(new LeafLink(this, lid, new SocketTransport(socket)));
      return;
    }
    // TLS: the INFO goes out in plaintext, then the leaf starts its handshake.
    socket.write(this.greeting(lid, socket.remoteAddress ?? ''));
    const key = peerKey(socket);
    this.handshaking.set(key, lid);
    socket.once('close', () => this.handshaking.delete(key));
    this.tlsServer.emit('connection', socket);
  }

  private refuseUnauthenticated(socket: net.Socket, max: number): void {
    this.refusedUnauthenticated++;
    endRefusedSocket(socket, errLine(Errors.maxConnections));
    this.refusalWarn.note(this.logger, { ip: socket.remoteAddress, max_unauthenticated: max });
  }

  /** [leafnodes.tls], else the service's [tls]; undefined: plain TCP. */
  private get tlsSection(): { cert_path: string; key_path: string; root_ca_path?: string } | undefined {
    return this.config.leafnodes?.tls ?? this.config.tls;
  }

  private createTlsServer(): tls.Server {
    // Client certificates are required here whatever [tls] verify says: a leaf is trusted with all traffic.
    const { cert_path, key_path, root_ca_path } = this.tlsSection!;
    const server = tls.createServer({
      ...loadServerTlsOptions({ cert_path, key_path, ...(root_ca_path !== undefined && { root_ca_path }), verify: true }, { section: this.config.leafnodes?.tls ? 'leafnodes.tls' : 'tls' }),
      handshakeTimeout: Math.max(TLS_HANDSHAKE_MS, this.config.service.auth_timeout),
    });
    server.on('secureConnection', (secure: tls.TLSSocket) => {
      const key = peerKey(secure);
      const lid = this.handshaking.get(key);
      this.handshaking.delete(key);
      if (lid === undefined) {
        secure.destroy();
        return;
      }
      this.startLink(new LeafLink(this, lid, new SocketTransport(secure)), true);
    });
    server.on('tlsClientError', (err: Error, secure: tls.TLSSocket) => {
      const key = peerKey(secure);
      this.logger.warn({ lid: this.handshaking.get(key), ip: secure.remoteAddress, err: err.message }, 'leafnode TLS handshake failed');
      this.handshaking.delete(key);
      secure.destroy();
    });
    return server;
  }

  private startLink(link: LeafLink, greeted = false): void {
    if (this.closing) {
      link.transport.destroy();
      return;
    }
    this.links.set(link.cid, link);
    link.start({ greeted });
  }

  /** Stops accepting and closes every link; resolves when the listener is closed. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const stopped = this.server ? new Promise((r) => this.server!.close(r)) : Promise.resolve();
    for (const link of [...this.links.values()]) link.close('Server Shutdown');
    this.interest.close();
    await Promise.all([stopped, this.authorizer.close()]);
  }
}

function peerKey(s: net.Socket): string {
  return `${s.remoteAddress}:${s.remotePort}`;
}
