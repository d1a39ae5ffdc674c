// The [leafnodes] port (hub side): accepts leaf links over TCP, or TLS with the service's certificate and a
// required client certificate when [tls] is set (INFO in plaintext first, then the handshake, as nats-server 2.9
// does: shared Acceptor, as the client port does). Who may attach is auth.ts's answer to each CONNECT; until then a
// socket is unauthenticated, and those are counted from accept (shared AdmissionSlots): at most max_unauthenticated
// at once, newcomers past it refused, each within the authorization timeout from accept (TLS handshake included),
// read as it arrives so a reload reaches it. Admitted links count toward neither max_connections nor
// listener_limit: they carry another server's clients, limited there. The protocol of one link is link.ts's.
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import {
  Acceptor,
  Errors,
  InterestTable,
  LeafLink,
  ThrottledWarn,
  errLine,
  infoLine,
  loadServerTlsOptions,
  type Broker,
  type ClientLimits,
  type CloseReason,
  type LeafAdmission,
  type LeafRefusal,
  type LinkContext,
  type Logger,
  type Op,
  type ServerTlsOptions,
  type Transport,
} from '@event-broker/shared';
import type { ServiceConfig } from '../config-types.js';
import { leafnodeListener } from '../config.js';
import { LeafAuthorizer } from './auth.js';

/** What the port needs from the server it belongs to. */
export interface LeafnodeHost {
  readonly broker: Broker;
  readonly config: ServiceConfig;
  readonly logger: Logger;
  /** INFO fields common to every connection (server_id, server_name, version, max_payload...). */
  serverInfo(): Record<string, unknown>;
}

export class LeafnodePort implements LinkContext {
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
  /** LS+, LS- and LMSG from leaves refused for a subject, reply or queue not UTF-8, every link since start (/metrics). */
  refusedOperations = 0;
  private readonly oversizeWarn = new ThrottledWarn('leafnode message over max_payload dropped; the link stays up');
  private readonly refusedOpWarn = new ThrottledWarn(
    'leafnode operation with a subject, reply or queue not UTF-8 dropped; the link stays up',
  );
  private readonly refusalWarn = new ThrottledWarn('leafnode connection refused: too many unauthenticated connections');
  private readonly handshakeWarn = new ThrottledWarn('leafnode TLS handshake failed or not done in time');
  private readonly refusedWarn = new ThrottledWarn<`refused_${LeafRefusal}`>(
    'leafnode connection refused before admission, closing',
    {
      kinds: ['refused_credentials', 'refused_protocol'],
    },
  );
  /** Made at listen, from the [leafnodes] section it listens for. */
  private authorizer: LeafAuthorizer | undefined;
  /** The port, and the sockets accepted and not yet admitted (TLS handshake or CONNECT pending); made at listen. */
  private acceptor: Acceptor<LeafLink> | undefined;
  private closing = false;

  constructor(private readonly host: LeafnodeHost) {
    // Before any link: the table must have seen every subscription a link may be told about.
    this.interest = new InterestTable(host.broker);
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
    return this.acceptor?.port ?? 0;
  }
  /** Links admitted and open now; what /varz, /metrics and /handlerz count (as nats-server's leafnodes). */
  get admittedLinks(): LeafLink[] {
    return [...this.links.values()].filter((l) => l.leaf !== undefined && !l.isClosed);
  }
  /** Sockets accepted and not yet admitted (TLS handshake or CONNECT pending), bounded by max_unauthenticated. */
  get unauthenticatedCount(): number {
    return this.acceptor?.slots.size ?? 0;
  }
  /** bcrypt checks of leaf credentials queued or running in the worker now (/handlerz). */
  get bcryptWaiting(): number {
    return this.authorizer?.bcryptWaiting ?? 0;
  }

  async listen(): Promise<void> {
    const conf = this.config.leafnodes;
    if (conf === undefined) return;
    const acceptor = this.createAcceptor();
    this.acceptor = acceptor;
    this.authorizer = new LeafAuthorizer(conf);
    if (!this.authorizer.required) {
      // Loopback only (config.ts refuses this elsewhere): every local process may attach and see every message.
      this.logger.warn(
        { host: conf.host },
        `the leafnode port names no leaf (no [leafnodes.authorization], no verify_and_map): any local process${acceptor.tlsEnabled ? ' with a certificate of the CA' : ''} may attach`,
      );
    }
    this.authorizer.warm();
    const port = await acceptor.listen(conf.host, leafnodeListener(conf)?.port ?? 0);
    this.logger.info({ host: conf.host, port, tls: acceptor.tlsEnabled }, 'listening for leafnode connections');
  }

  greeting(lid: number, _remoteAddress: string): string {
    const conf = this.config.leafnodes!;
    const info: Record<string, unknown> = {
      ...this.host.serverInfo(),
      host: conf.host,
      port: this.port,
      client_id: lid,
      // The hub tells leaves where else they may attach (just here; we have no cluster).
      leafnode_urls: [`${conf.host}:${this.port}`],
    };
    // nats-server's leafnode INFO says auth_required when its leafnodes { authorization } is set (observed, 2.9.10).
    if (this.authorizer?.required === true) info.auth_required = true;
    else delete info.auth_required;
    if (this.acceptor?.tlsEnabled === true) {
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
    if (this.authorizer === undefined || this.acceptor === undefined)
      return { ok: false, reason: 'the listener is not listening' };
    const slots = this.acceptor.slots;
    const slot = slots.get(link.cid);
    const verdict = this.authorizer.authorize(
      { user: str(connect.user), pass: str(connect.pass), token: str(connect.auth_token) },
      cert,
      slot?.gone,
    );
    // A bcrypt check keeps its max_unauthenticated slot until it settles, even if the link leaves first, so checks
    // waiting for the worker are never more than max_unauthenticated; one whose link left before its turn is dropped.
    if (verdict instanceof Promise && slot !== undefined) slots.keepUntil(slot, verdict);
    return verdict;
  }

  linkRefused(_link: LeafLink, kind: LeafRefusal, fields: Record<string, unknown>): void {
    this.refusedWarn.note(this.logger, fields, `refused_${kind}`);
  }

  linkAdmitted(link: LeafLink): void {
    this.acceptor?.admitted(link.cid);
    this.totalLinks++;
  }

  oversizeDropped(link: LeafLink, subject: string, size: number): void {
    this.droppedOversize++;
    this.oversizeWarn.note(this.logger, {
      lid: link.cid,
      leaf: link.leaf?.name,
      subject,
      bytes: size,
      max_payload: this.limits.max_payload,
    });
  }

  operationRefused(link: LeafLink, op: Op, detail: string): void {
    this.refusedOperations++;
    this.refusedOpWarn.note(this.logger, { lid: link.cid, leaf: link.leaf?.name, op, detail });
  }

  linkClosed(link: LeafLink, reason: CloseReason): void {
    this.acceptor?.closed(link.cid);
    if (this.links.delete(link.cid) && link.leaf !== undefined) {
      this.logger.info(
        {
          lid: link.cid,
          ip: link.transport.remoteAddress,
          leaf: link.leaf.name,
          reason,
          in_msgs: link.stats.inMsgs,
          out_msgs: link.stats.outMsgs,
        },
        'leafnode closed',
      );
    }
  }

  /** The port (shared Acceptor): what is leaf-specific is the cap, the deadline, the certificate and what a refused socket is told. */
  private createAcceptor(): Acceptor<LeafLink> {
    const host = this.host;
    return new Acceptor<LeafLink>({
      slots: {
        countsUntil: 'admitted',
        // nats-server has no such bound; refusing the newcomer keeps a link that is about to be admitted.
        whenFull: 'refuse',
        get max() {
          return host.config.leafnodes?.max_unauthenticated ?? 0;
        },
        // From accept to an admitted CONNECT (nats-server leafnodes authorization timeout), TLS handshake included.
        get deadlineMs() {
          const conf = host.config;
          return conf.leafnodes?.authorization?.timeout ?? conf.service.auth_timeout;
        },
      },
      ...this.tlsOptions(),
      accepting: () => !this.closing,
      greeting: (lid, socket) => this.greeting(lid, socket.remoteAddress ?? ''),
      // Past max_unauthenticated: before any INFO or TLS, so a flood of silent sockets costs a write and a close each.
      refuse: (socket) => this.refuseUnauthenticated(socket),
      open: (lid, transport) => this.open(lid, transport),
      notAdmitted: (link) =>
        link.fail(Errors.authTimeout, 'no admitted CONNECT within the authorization timeout of accept'),
      handshakeFailed: (f) => {
        const reason = f.timedOut ? 'not done within the authorization timeout of accept' : f.reason;
        this.handshakeWarn.note(this.logger, { lid: f.id, ip: f.socket.remoteAddress, reason });
      },
    });
  }

  private refuseUnauthenticated(socket: net.Socket): void {
    this.refusedUnauthenticated++;
    this.acceptor!.slots.refuseSocket(socket, errLine(Errors.maxConnections));
    this.refusalWarn.note(this.logger, {
      ip: socket.remoteAddress,
      max_unauthenticated: this.config.leafnodes?.max_unauthenticated,
    });
  }

  /**
   * [leafnodes.tls], else the service's [tls]; none: plain TCP. Client certificates are required here whatever [tls]
   * verify says: a leaf is trusted with all traffic.
   */
  private tlsOptions(): { tls?: ServerTlsOptions } {
    const section = this.config.leafnodes?.tls ?? this.config.tls;
    if (section === undefined) return {};
    const { cert_path, key_path, root_ca_path } = section;
    const options = { cert_path, key_path, ...(root_ca_path !== undefined && { root_ca_path }), verify: true };
    return { tls: loadServerTlsOptions(options, { section: this.config.leafnodes?.tls ? 'leafnodes.tls' : 'tls' }) };
  }

  private open(lid: number, transport: Transport): LeafLink {
    const link = new LeafLink(this, lid, transport);
    this.links.set(lid, link);
    return link;
  }

  /** Stops accepting and closes every link; resolves when the port is closed. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const stopped = this.acceptor?.stopListening();
    for (const link of [...this.links.values()]) link.close('Server Shutdown');
    // Sockets still in their TLS handshake, and refused ones finishing, have no link to close.
    this.acceptor?.closeAll();
    this.interest.close();
    await Promise.all([stopped, this.authorizer?.close()]);
  }
}
