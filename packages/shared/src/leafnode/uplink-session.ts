// One connected link of the uplink (uplink.ts), from the hub's INFO (dial.ts) to its end: the CONNECT, our interest
// and a PING whose PONG ends the handshake (bounded), then the reads (parser) and the writes, batched, kept alive and
// ended through the shared connection core (server/conn-core.ts). What the hub's LS+/LS-/LMSG mean for the local
// broker, what is written into the batch, and what follows the end (buffer, redial) are the uplink's.
import {
  Errors,
  PING,
  PONG,
  Parser,
  errLine,
  type Op,
  type Outbound,
  type ProtocolError,
  type ProtocolHandler,
} from '../protocol/index.js';
import { ThrottledWarn, type Logger } from '../log.js';
import type { ClientLimits } from '../server/client.js';
import { ConnCore } from '../server/conn-core.js';
import type { Flushable } from '../server/flush.js';
import { CREDIT_CONNECT_FIELD } from '../server/credit.js';
import { SocketTransport } from '../server/transport.js';
import { credsConnectFields, CredsError } from './creds.js';
import { UplinkError, type DialedHub, type HubInfo, type HubUrl } from './dial.js';
import { MAX_PAYLOAD_CEILING, type LinkStats } from './peer.js';
import type { UplinkCredentials } from './uplink-options.js';

/** What the hub's leafnode operations become: the uplink's (its interest and the local broker). */
export type HubOps = Required<Pick<ProtocolHandler, 'onLeafSub' | 'onLeafUnsub' | 'onLeafMsg'>>;

/** What the hub sends that is read past and dropped, logged rate-limited across the uplink's links. */
export class HubReadWarnings {
  readonly oversize = new ThrottledWarn('message from the upstream over max_payload dropped; the link stays up');
  readonly refused = new ThrottledWarn(
    'operation from the upstream with a subject, reply or queue not UTF-8 dropped; the link stays up',
  );
}

/** Who we say we are in CONNECT. */
export interface LeafHello {
  readonly version: string;
  readonly serverId: string;
  readonly name: string;
  readonly cluster: string | undefined;
  readonly credentials: UplinkCredentials | undefined;
  /** Say that this link takes credit for its clients (server/credit.ts). */
  readonly takesCredit: boolean;
}

/** The same for every link of one uplink. */
export interface SessionOptions {
  /** Read on use: max_control_line and max_payload at the start, ping_interval once up, ping_max on each tick. */
  readonly limits: ClientLimits;
  readonly hello: LeafHello;
  /** Bounds the wait for the PONG answering our CONNECT. */
  readonly handshakeTimeoutMs: number;
  /** Ours: the hub sending it back means it reaches us twice. */
  readonly loopSubject: string;
  readonly hub: HubOps;
  /** The uplink's: what is read past and dropped is counted there (inOversize, inRefused). */
  readonly stats: LinkStats;
  readonly logger: Logger;
  readonly readWarnings: HubReadWarnings;
  /** The PONG to the PING after CONNECT: the hub has our CONNECT and interest, and we have its interest. */
  established(): void;
  /**
   * The link is gone: ended on our side (`end`: handshake timeout, stale, -ERR, protocol error, loop), the uplink
   * then ending it gracefully, or by the hub or the network (`destroy`). Called once, never after end().
   */
  lost(err: UplinkError, how: 'end' | 'destroy'): void;
  /** Some bytes reached the OS. */
  sent(): void;
  /** The uplink, whose flush (flush.ts) writes the message it is collecting and then this session's batch (flush()). */
  owner: Flushable;
  /** Writes the message the uplink is collecting: it goes before a control line (PING, PONG, the loop's -ERR). */
  writePending(): void;
}

export class UplinkSession implements ProtocolHandler {
  /** Resolves once the socket is closed, however the link ended. */
  readonly closed: Promise<void>;
  private readonly info: HubInfo;
  /** The largest message we read from the hub (ours or its INFO's max_payload, whichever is larger). */
  readonly maxPayload: number;
  private readonly transport: SocketTransport;
  private readonly parser: Parser;
  private readonly core: ConnCore;
  private socketClosed!: () => void;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** The handshake's PONG came: messages and interest flow. */
  private isUp = false;
  /** Ended (by us, or lost reported): nothing more is read, written or reported. */
  private done = false;

  constructor(
    private readonly url: HubUrl,
    private readonly dialed: DialedHub,
    private readonly opts: SessionOptions,
  ) {
    this.info = dialed.info;
    this.closed = new Promise<void>((r) => (this.socketClosed = r));
    this.transport = new SocketTransport(dialed.socket);
    const limits = opts.limits;
    // The hub may send what its INFO allows (its max_payload, at most nats-server's 64 MiB ceiling) even when ours is
    // smaller. A larger message is read past and dropped, never kept (issue 11: one LMSG line had ended the gateway;
    // ending the link instead would cut every client for one message); one over the ceiling still ends the link.
    this.maxPayload = Math.max(limits.max_payload, Math.min(this.info.maxPayload, MAX_PAYLOAD_CEILING));
    this.parser = new Parser(this, 'leaf', {
      maxControlLine: limits.max_control_line,
      maxPayload: this.maxPayload,
      skipOversize: MAX_PAYLOAD_CEILING,
    });
    this.core = new ConnCore(this.transport, {
      owner: opts.owner,
      keepalive: {
        pingMax: () => opts.limits.ping_max,
        ping: () => this.write(PING),
        stale: (n) => this.fail(new UplinkError('EUPLINK_STALE', `${url.display}: ${n} PINGs unanswered`)),
      },
      sent: () => {
        if (!this.done) opts.sent();
      },
    });
  }

  /** This turn's batch: the uplink encodes messages for the hub straight into it. */
  get batch(): Outbound {
    return this.core.batch;
  }
  /** Bytes owed to the hub and not yet handed to the OS. */
  get pendingBytes(): number {
    return this.core.pendingBytes;
  }
  /** Round trip of the latest PING answered (the handshake's first), ms. */
  get rttMs(): number {
    return this.core.pinger.rttMs;
  }

  /** Sends CONNECT, `interest` (our LS+ burst) and the PING whose PONG ends the handshake; reads start unless `paused`. */
  start(interest: string, paused: boolean): void {
    const { transport, parser, url } = this;
    transport.start({
      onData: (chunk) => {
        if (!this.done) parser.parse(chunk);
      },
      onClose: (err) => {
        this.socketClosed();
        if (!this.done)
          this.lost(
            new UplinkError('EUPLINK_CLOSED', `${url.display}: ${err ? err.message : 'the upstream closed the link'}`, {
              cause: err,
            }),
            'destroy',
          );
      },
      onDrain: () => {
        this.core.drained();
        if (!this.done) this.opts.sent();
      },
    });
    // start's 'data' callback sets a socket that was never paused flowing (the TLS one dialHub hands over; it pauses
    // only the plaintext one after the INFO): reading goes on now only if in-process subscribers have not paused it.
    if (paused) this.core.pause();
    else transport.resume();
    let connect: string;
    try {
      connect = connectLine(this.info, url, this.opts.hello);
    } catch (err) {
      // The .creds file cannot be read or used, or the hub sent no nonce to sign: this attempt fails, the next reads
      // the file again (a fixed or rotated file is picked up without a restart).
      this.fail(new UplinkError('EUPLINK_CREDENTIALS', `${url.display}: ${(err as Error).message}`));
      return;
    }
    const batch = this.core.batch;
    batch.writeString(connect);
    batch.writeString(interest);
    batch.writeBytes(PING);
    // The handshake's PING is counted and timed like any other: its PONG gives the first rtt.
    this.core.pinger.sent();
    this.core.flush();
    const timeoutMs = this.opts.handshakeTimeoutMs;
    this.handshakeTimer = setTimeout(() => {
      this.fail(new UplinkError('EUPLINK_HANDSHAKE', `${url.display}: no PONG to our CONNECT within ${timeoutMs} ms`));
    }, timeoutMs);
    this.handshakeTimer.unref?.();
    const rest = this.dialed.rest;
    if (rest.length > 0) parser.parse(rest);
  }

  /** Queues a control line (or interest lines) for this turn's write. */
  write(s: string | Buffer): void {
    if (this.done) return;
    this.opts.writePending();
    this.core.write(s);
  }

  /** Writes this turn's batch in one go. */
  flush(): void {
    this.core.flush();
  }

  /** In-process subscribers slow the hub's messages down: counted, reads resume once every pause is resumed. */
  pause(): void {
    this.core.pause();
  }

  resume(): void {
    this.core.resume();
  }

  /** Ends the link: `end` writes what is queued first (and closes once it is sent), `destroy` drops it. */
  end(how: 'end' | 'destroy'): void {
    this.done = true;
    clearTimeout(this.handshakeTimer);
    if (how === 'end') this.core.end();
    else this.core.cut();
  }

  /** Ended on our side: the uplink flushes what it collected, then ends the link (lost). */
  private fail(err: UplinkError): void {
    if (!this.done) this.lost(err, 'end');
  }

  private lost(err: UplinkError, how: 'end' | 'destroy'): void {
    this.opts.lost(err, how);
    // The uplink ends it in lost; should it not have, the link must still end here.
    if (!this.done) this.end(how);
  }

  // --- reading -------------------------------------------------------------------------------------------

  onProtocolError(err: ProtocolError, detail: string): void {
    this.fail(
      new UplinkError('EUPLINK_PROTOCOL', `${this.url.display}: ${err.text || 'protocol violation'}: ${detail}`),
    );
  }

  onErr(text: string): void {
    if (this.done) return;
    // The hub found a loop (leafnode.go leafProcessErr): redial.ts waits 30 s, as it does.
    const loop = text.includes('Loop detected');
    this.fail(new UplinkError(loop ? 'EUPLINK_LOOP' : 'EUPLINK_HUB_ERROR', `${this.url.display}: -ERR '${text}'`));
  }

  /** A hub's later INFO (its connect_info answer, cluster changes) changes nothing we act on. */
  onInfo(): void {}
  onOk(): void {}
  /** A hub never sends CONNECT; nats-server ignores what it does not expect from a server here too. */
  onConnect(): void {}

  onPing(): void {
    this.write(PONG);
  }

  onPong(): void {
    if (this.done) return;
    this.core.pinger.onPong();
    if (this.isUp) return;
    // The hub answers in order: its LS+ burst for our CONNECT came before this PONG.
    this.isUp = true;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.core.keepAlive(this.opts.limits.ping_interval);
    this.opts.established();
  }

  onLeafSub(subject: string, queue: string | undefined, weight: number): void {
    if (this.done) return;
    if (subject === this.opts.loopSubject) {
      // leafnode.go handleLeafNodeLoop: tell the hub, drop the link, wait before redialling (redial.ts).
      this.write(errLine(Errors.leafnodeLoop));
      this.fail(
        new UplinkError(
          'EUPLINK_LOOP',
          `${this.url.display}: our loop-detection subject came back: the upstream reaches us twice`,
        ),
      );
      return;
    }
    this.opts.hub.onLeafSub(subject, queue, weight);
  }

  onLeafUnsub(subject: string, queue: string | undefined): void {
    if (!this.done) this.opts.hub.onLeafUnsub(subject, queue);
  }

  onLeafMsg(subject: string, reply: string | undefined, queues: readonly string[], hdrLen: number, msg: Buffer): void {
    if (!this.done) this.opts.hub.onLeafMsg(subject, reply, queues, hdrLen, msg);
  }

  /** A message from the hub over what we accept (ours and its INFO's max_payload): read past, dropped, link kept. */
  onOversize(_op: Op, subject: string, size: number): void {
    if (this.done) return;
    this.opts.stats.inOversize++;
    this.opts.readWarnings.oversize.note(this.opts.logger, {
      upstream: this.url.display,
      subject,
      bytes: size,
      max_payload: this.maxPayload,
    });
  }

  /** LS+, LS- or LMSG from the hub naming a subject, reply or queue that is not UTF-8: dropped, counted, logged. */
  onRefused(op: Op, _err: ProtocolError, detail: string): void {
    if (this.done) return;
    this.opts.stats.inRefused++;
    this.opts.readWarnings.refused.note(this.opts.logger, { upstream: this.url.display, op, detail });
  }
}

/**
 * The fields a nats-server 2.9 leaf sends (leafnode.go sendLeafConnect, leafConnectInfo); never `lang`, which marks
 * a client on the leafnode port.
 */
function connectLine(info: HubInfo, url: HubUrl, hello: LeafHello): string {
  const connect: Record<string, unknown> = {
    version: hello.version,
    tls_required: info.tls,
    server_id: hello.serverId,
    name: hello.name,
    headers: true,
  };
  if (hello.cluster !== undefined) connect.cluster = hello.cluster;
  if (hello.takesCredit) connect[CREDIT_CONNECT_FIELD] = true;
  // nats-server leafnode.go sendLeafConnect: user and pass (from the remote's URL there); a token as a client sends it.
  const cred = hello.credentials;
  const user = cred?.user ?? url.user;
  const pass = cred?.password ?? url.pass;
  if (user !== undefined) connect.user = user;
  if (pass !== undefined) connect.pass = pass;
  if (cred?.token !== undefined) connect.auth_token = cred.token;
  if (cred?.credsFile !== undefined) {
    if (info.nonce === undefined) throw new CredsError('the upstream sent no nonce to sign (not a nats-server?)');
    Object.assign(connect, credsConnectFields(cred.credsFile, info.nonce));
  }
  return `CONNECT ${JSON.stringify(connect)}\r\n`;
}
