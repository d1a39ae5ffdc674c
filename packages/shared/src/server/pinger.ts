// The keep-alive every connection end runs (client connections, both ends of a leafnode link): a PING each
// ping_interval, the connection stale once ping_max of them go unanswered (nats-server client.go processPingTimer),
// and the round trip of the oldest outstanding PING for /connz and /leafz rtt. Writing the PING and closing a stale
// connection stay with the connection; this keeps the count, the clock and the timer. Nothing here allocates per
// message: one Pinger per connection, the tick bound once.

/** What the timer's tick asks the connection to do: send a PING, close it as stale, or nothing this time. */
export type PingAction = 'ping' | 'stale' | 'wait';

export class Pinger {
  /** Round trip of the latest PING answered, ms; 0 until one is. */
  rttMs = 0;
  /** PINGs sent and not answered yet. */
  private out = 0;
  /** When the oldest unanswered PING went out (performance.now()), 0 when none is. */
  private sentAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private intervalMs = 0;
  private tick: (() => void) | undefined;

  /** The timer is armed (start() called, stop() not since). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** PINGs unanswered (for the stale connection's log line). */
  get unanswered(): number {
    return this.out;
  }

  /** Calls `tick` every `intervalMs` (unref'd: it keeps no process alive) until stop(). */
  start(intervalMs: number, tick: () => void): void {
    clearInterval(this.timer);
    this.tick = tick;
    this.intervalMs = intervalMs;
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref?.();
  }

  /** A reload's new ping_interval: the running timer re-armed with it; nothing when stopped or unchanged. */
  retime(intervalMs: number): void {
    if (this.timer === undefined || this.tick === undefined || intervalMs === this.intervalMs) return;
    this.start(intervalMs, this.tick);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * The timer fired: 'ping' (counted; the caller writes it), or 'stale' once `pingMax` are unanswered. With the
   * connection's reads paused on purpose (event_limit, a full upstream buffer, a slow in-process reader) 'wait':
   * its PONGs sit unread in the socket, so missing them says nothing about the peer, and nothing is counted.
   */
  onTimer(pingMax: number, readsPaused = false): PingAction {
    if (readsPaused) return 'wait';
    if (this.out + 1 > pingMax) return 'stale';
    this.out++;
    // The oldest outstanding PING is the one timed: a PONG answers them in order.
    if (this.sentAt === 0) this.sentAt = performance.now();
    return 'ping';
  }

  /** A PING sent outside the timer (a leafnode's first, for rtt at once; the handshake's): counted and timed. */
  sent(): void {
    this.out++;
    this.sentAt = performance.now();
  }

  /** A PONG: nothing is outstanding any more, and the round trip is measured if a PING was timed. */
  onPong(): void {
    this.out = 0;
    if (this.sentAt !== 0) {
      this.rttMs = performance.now() - this.sentAt;
      this.sentAt = 0;
    }
  }
}
