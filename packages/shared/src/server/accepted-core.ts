// The connection core of a connection a port accepted (a client, the hub side of a leaf link): ConnCore plus how
// such a connection ends. It ends once, one of three ways (Ending), with a typed reason (the close reason /connz and
// the logs show); a protocol error sends its -ERR and, when nats-server would close, refuses a connection not yet
// admitted and ends an admitted one; a reader past max_pending or stuck past the write deadline is cut as a slow
// consumer (counted); and once it is gone, however, the broker forgets it and its port is told. What the -ERR follows
// on the wire, what is logged and what the connection itself lets go are the owner's (client.ts, leafnode/link.ts).
// The uplink's session (leafnode/uplink-session.ts) uses ConnCore alone: it reports its end to the uplink instead.
import { Errors, PING, errLine, type CloseReason, type ProtocolError } from '../protocol/index.js';
import type { Broker, Conn } from './broker.js';
import { ConnCore } from './conn-core.js';
import type { ClientLimits } from './context.js';
import type { Flushable } from './flush.js';
import type { Transport } from './transport.js';

/**
 * How a connection ends: `end` gracefully (what it is owed, then the close once it is sent), `refuse` (its last bytes,
 * its -ERR, handed to the OS, then dropped: Transport.refuse) or `cut` (its backlog dropped: a reader that cannot keep
 * up).
 */
export type Ending = 'end' | 'refuse' | 'cut';

export interface AcceptedConnOptions {
  /**
   * The connection: it flushes (flush.ts), and its `closeReason` is set here, once, however it ends (its per-message
   * paths read it as their own field).
   */
  readonly conn: Conn & Flushable & { closeReason: CloseReason | undefined };
  /** Its port's broker, and the limits in force, read on use so a reload reaches it (ping_max, max_pending, write_deadline). */
  readonly ctx: { readonly broker: Broker; readonly limits: ClientLimits };
  /** What the peer closing its end is called ('Client Closed', 'Leafnode Closed'); a read error is 'Read Error'. */
  readonly peerClosed: CloseReason;
  /** Queues a control line as the owner orders its output (a leaf link first writes the message it is collecting). */
  write(line: string | Buffer): void;
  /**
   * Ended gracefully while its reads are paused, the connection reads again so its socket sees the peer's FIN (a leaf
   * link, as before the two ends shared this core). A client is not resumed: it closes as it always has, its backlog
   * written out first, whatever arrives after its end left unread.
   */
  readonly resumeToClose?: boolean;
  /** A protocol error that closes refuses the connection rather than ending it: not admitted where admission counts. */
  refuses(): boolean;
  /** The owner's log line for a protocol error: `how` it ends the connection, undefined when it stays open. */
  logError(err: ProtocolError, detail: string, how: 'end' | 'refuse' | undefined): void;
  /** The owner's log line for a slow consumer about to be cut for `reason`. */
  logSlow(reason: CloseReason): void;
  /** The connection is gone: what it keeps goes (subscriptions or interest, admission, what it is parked at). */
  release(): void;
  /** Last, once the broker forgot it: its port is told. */
  closed(reason: CloseReason): void;
}

export class AcceptedCore extends ConnCore {
  constructor(
    transport: Transport,
    private readonly accepted: AcceptedConnOptions,
  ) {
    super(transport, {
      // After the current publish (every delivery of one message is synchronous): one write per turn.
      owner: accepted.conn,
      keepalive: {
        pingMax: () => accepted.ctx.limits.ping_max,
        ping: () => accepted.write(PING),
        stale: (n) => this.fail(Errors.staleConnection, `${n} pings unanswered`),
      },
      // nats-server applies write_deadline to leafnode connections as to clients (client.go flushOutbound).
      writeDeadline: {
        ms: () => accepted.ctx.limits.write_deadline,
        stuck: () => this.slowConsumer('Slow Consumer (Write Deadline)'),
      },
    });
  }

  /** Starts reading: `onData` takes each chunk; the socket closing ends the connection (peerClosed, or Read Error). */
  start(onData: (chunk: Buffer) => void): void {
    this.transport.start({
      onData,
      onClose: (err) => this.closed(err ? 'Read Error' : this.accepted.peerClosed),
      onDrain: () => this.drained(),
    });
  }

  /**
   * A message was encoded into the batch. Past max_pending the reader cannot keep up: it is cut (nats-server
   * client.go: Slow Consumer (Pending Bytes)); otherwise written after the turn, or at once past EAGER_FLUSH_BYTES.
   */
  override queued(): void {
    if (this.pendingBytes > this.accepted.ctx.limits.max_pending) this.slowConsumer('Slow Consumer (Pending Bytes)');
    else super.queued();
  }

  /** Sends an -ERR (when it has text) and closes if nats-server would: refused before admission, else gracefully. */
  fail(err: ProtocolError, detail: string): void {
    const a = this.accepted;
    if (a.conn.closeReason !== undefined) return;
    if (err.text) a.write(errLine(err));
    if (!err.closes) {
      a.logError(err, detail, undefined);
      return;
    }
    const how = a.refuses() ? 'refuse' : 'end';
    a.logError(err, detail, how);
    this.close(err.closeReason ?? 'Protocol Violation', how);
  }

  /** Ends the connection `how` (once), then its bookkeeping (closed). */
  close(reason: CloseReason, how: Ending): void {
    const a = this.accepted;
    if (a.conn.closeReason !== undefined) return;
    if (how === 'cut') this.cut();
    // A refused peer is dropped once its -ERR is out, as nats-server closes it, rather than read until it stops
    // sending (a refused leaf's burst cost ~300 KiB of RSS per connection, read 64 KiB at a time).
    else if (how === 'refuse') this.refuse();
    else {
      // What the owner collects (a leaf link's message) goes before the close.
      a.conn.flush();
      this.end();
    }
    this.closed(reason);
    // Closed while its reads are paused (an admission check, a publisher pause, a gate): the socket must still read
    // the peer's FIN to finish closing, and a paused socket holds no event loop. What arrives now is dropped.
    if (how === 'end' && this.readsPaused && a.resumeToClose === true) this.transport.resume();
  }

  /** A reader that cannot keep up, cut for `reason`: counted with the broker's slow consumers, logged by the owner. */
  private slowConsumer(reason: CloseReason): void {
    const a = this.accepted;
    if (a.conn.closeReason !== undefined) return;
    a.ctx.broker.counters.slowConsumers++;
    a.logSlow(reason);
    this.close(reason, 'cut');
  }

  /** Bookkeeping once the connection is gone, whoever closed it: once. */
  private closed(reason: CloseReason): void {
    const a = this.accepted;
    if (a.conn.closeReason !== undefined) return;
    a.conn.closeReason = reason;
    this.stop();
    a.release();
    a.ctx.broker.connClosed(a.conn);
    a.closed(reason);
  }
}
