// The hub's interest carried across the uplink's links (uplink.ts): at a new link what the hub wanted before is
// stale until its LS+ burst names it again, and what it still has not named by the handshake's PONG is gone (the hub
// answers in order); when a link drops, interest the hub withdrew just before (a hub shutting down) is taken back,
// so the outage buffers what it wanted a moment ago. The subscriptions themselves are the uplink's (peer.ts subs).
/** Withdrawn interest remembered at most (the oldest is forgotten first): bounds memory under heavy churn. */
const WITHDRAWN_MAX = 65_536;

interface Withdrawn {
  readonly subject: string;
  readonly queue: string | undefined;
  readonly at: number;
}

export class CarriedInterest {
  /** The hub's interest from before this link, dropped at the PONG unless re-announced. */
  private stale: Set<string> | undefined;
  /** The hub's recent LS-, oldest first, for an outage that follows them (see withdrawnInterestMs). */
  private readonly withdrawn = new Map<string, Withdrawn>();

  /** `withdrawnMs`: UplinkOptions.withdrawnInterestMs, 0 to remember no withdrawal. */
  constructor(private readonly withdrawnMs: number) {}

  /** A link begins: every interest known now (`keys`) is stale until the hub names it again. */
  linkStarted(keys: Iterable<string>): void {
    this.stale = new Set(keys);
  }

  /** The hub's LS+ for `key`. */
  announced(key: string): void {
    this.stale?.delete(key);
    if (this.withdrawn.size > 0) this.withdrawn.delete(key);
  }

  /** The hub's LS- for `key`, known until now (undefined `subject` when it was not known: nothing to remember). */
  withdrew(key: string, subject: string | undefined, queue: string | undefined): void {
    this.stale?.delete(key);
    if (subject === undefined || this.withdrawnMs <= 0) return;
    const now = Date.now();
    this.withdrawn.delete(key);
    this.withdrawn.set(key, { subject, queue, at: now });
    // Oldest first (insertion order): forget what is too old, or too many.
    for (const [k, w] of this.withdrawn) {
      if (w.at >= now - this.withdrawnMs && this.withdrawn.size <= WITHDRAWN_MAX) break;
      this.withdrawn.delete(k);
    }
  }

  /** The handshake's PONG: the keys the hub did not name again, to drop. */
  takeStale(): Iterable<string> {
    const stale = this.stale ?? [];
    this.stale = undefined;
    return stale;
  }

  /**
   * The link dropped: the interest withdrawn within withdrawnMs before it, to keep through the outage like the rest
   * (`linked`: the link had sent CONNECT, so the hub could have withdrawn anything).
   */
  linkLost(linked: boolean): Array<{ subject: string; queue: string | undefined }> {
    this.stale = undefined;
    const back: Array<{ subject: string; queue: string | undefined }> = [];
    if (linked) {
      const since = Date.now() - this.withdrawnMs;
      for (const w of this.withdrawn.values()) if (w.at >= since) back.push({ subject: w.subject, queue: w.queue });
    }
    this.withdrawn.clear();
    return back;
  }
}
