// The one retry delay every part uses (the uplink's redial, a sink's retries, the sink worker's restart): capped
// exponential growth from `baseMs`, doubling per attempt after the first, with a chosen share of it random so that
// many retriers (a fleet of leaves, a sink's parallel deliveries) do not retry in step.
// Full jitter is the AWS Architecture Blog's "Exponential Backoff And Jitter"; half keeps a floor of half the step.

export interface Backoff {
  /** The first attempt's delay (before jitter). */
  baseMs: number;
  /** No delay exceeds this. */
  capMs: number;
  /**
   * `none`: the step itself; `half`: between half the step and the step; `full`: between 0 and the step. Default
   * `full`.
   */
  jitter?: 'none' | 'half' | 'full';
}

/** The delay before retry number `attempt` (1 for the first retry); `random` returns [0, 1), for tests. */
export function backoffDelayMs(attempt: number, b: Backoff, random: () => number = Math.random): number {
  // The exponent is bounded so a long outage's attempt count never makes 2 ** n Infinity.
  const step = Math.min(b.capMs, b.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  switch (b.jitter ?? 'full') {
    case 'none':
      return step;
    case 'half':
      return Math.round(step / 2 + random() * (step / 2));
    case 'full':
      return Math.floor(random() * step);
  }
}
