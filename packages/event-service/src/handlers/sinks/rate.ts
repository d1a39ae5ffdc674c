// A sink's rate limit (`rate` events/s, `burst` at once): a token bucket both pumps consult before a POST (http.ts
// over the SQLite store, backend-sink.ts over a backend's queue). A batch takes as many tokens as it has events; one
// larger than the bucket goes once the bucket is full and leaves it in debt, so the average rate holds whatever the
// batch size. The bucket only says how long to wait: the pumps wait on a timer, never in a loop.

/** The bucket's size when `burst` is unset: a second's worth of events, at least one. */
export function defaultBurst(rate: number): number {
  return Math.max(1, Math.floor(rate));
}

export class TokenBucket {
  private tokens: number;
  private at: number;
  readonly burst: number;

  constructor(
    /** Tokens (events) added per second. */
    readonly rate: number,
    burst: number | undefined,
    private readonly now: () => number = Date.now,
  ) {
    if (!(rate > 0)) throw new RangeError(`rate must be above 0, got ${rate}`);
    this.burst = Math.max(1, burst ?? defaultBurst(rate));
    this.tokens = this.burst;
    this.at = now();
  }

  private refill(): void {
    const t = this.now();
    if (t > this.at) this.tokens = Math.min(this.burst, this.tokens + ((t - this.at) * this.rate) / 1000);
    this.at = t;
  }

  /** How long (ms) before `n` events may go: 0 now. More than the bucket holds waits for a full bucket. */
  waitMs(n: number): number {
    this.refill();
    const need = Math.min(n, this.burst);
    return this.tokens >= need ? 0 : Math.ceil(((need - this.tokens) * 1000) / this.rate);
  }

  /** `n` events go now (after waitMs said 0): their tokens are taken, the bucket possibly left in debt. */
  take(n: number): void {
    this.refill();
    this.tokens -= n;
  }

  /** Tokens taken for events that did not go (a claim that came back short) are given back. */
  refund(n: number): void {
    this.refill();
    this.tokens = Math.min(this.burst, this.tokens + n);
  }
}

/** The bucket a sink's options ask for, or undefined when it is unlimited. */
export function sinkBucket(opts: { rate?: number; burst?: number; now?: () => number }): TokenBucket | undefined {
  return opts.rate === undefined ? undefined : new TokenBucket(opts.rate, opts.burst, opts.now);
}
