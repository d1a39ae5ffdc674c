// What a run yields: the JSON a generator (or a runner) prints last. Apart from scenario-types.ts so generators.ts
// can name it without a cycle.

/** What a generator (or the in-process child) prints last; fields depend on the mode. */
export interface GenResult {
  generator: string;
  mode: string;
  error?: string;
  window_ns: number;
  window_cpu_s: number;
  cpu_user_s: number;
  cpu_sys_s: number;
  async_errors?: number;
  disconnects?: number;
  sent?: number;
  received?: number;
  expected?: number;
  lost?: number;
  capped?: boolean;
  size?: number;
  subs?: number;
  requests?: number;
  timeouts?: number;
  p50_us?: number;
  p90_us?: number;
  p99_us?: number;
  p999_us?: number;
  max_us?: number;
  mean_us?: number;
  opened?: number;
  closed_by_server?: number;
  per_sub_min?: number;
  per_sub_max?: number;
  /** `fanout` from the generators: the publisher's client (raw, libnats, libnats-tls, raw-tls). */
  publisher?: string;
  /** gateway.ts: each server process's CPU seconds over the window (their sum is the cell's server CPU). */
  server_cpu_parts?: Record<string, number>;
  /** `conns` with sub=1, `subs`: subscriptions held at the end; `subs`: how many carry a wildcard. */
  subscriptions?: number;
  subjects?: number;
  wildcard_subscriptions?: number;
  /** `subs`: from the first SUB written to the PONG after the last, on every connection. */
  setup_ns?: number;
  // Added by main.ts for `conns`: the server's VmRSS with one client, then with all of them.
  rss_base_kib?: number;
  rss_full_kib?: number;
  // `events` (events.ts): requests answered with an error, backlog when intake ended, delivery and drain windows.
  refused?: number;
  /** `requests`: replies that acknowledged (the rest of those answered were refused). */
  acked?: number;
  warmup_acked?: number;
  backlog_at_end?: number;
  delivery_ns?: number;
  drain_ns?: number;
  batch?: number;
  /** POSTs whose body was a JSON array (0 with batch > 1: the service did not apply batch_size). */
  batch_posts?: number;
  /** Events the receiver got again after their first delivery (at least once); the counts above are distinct ids. */
  redelivered?: number;
  // `soak` (soak.ts): heapUsed after a forced GC (bytes; ours only) and VmRSS (KiB): fresh (cold), after one
  // warm-up round (before), the largest sample during the load, and after the idle period; the steps run.
  heap_cold?: number;
  heap_before?: number;
  heap_during_max?: number;
  heap_after?: number;
  /** heapUsed after minus the warm start, per V8 space, in bytes (code_space: compiled code; old_space: live objects). */
  heap_space_growth?: Record<string, number>;
  /** Bytecode + machine code (v8.getHeapCodeStatistics) in the cold and the final heap: warm-up, not leaks. */
  compiled_cold?: number;
  compiled_after?: number;
  rss_cold_kib?: number;
  rss_before_kib?: number;
  rss_during_max_kib?: number;
  rss_after_kib?: number;
  samples?: number;
  steps?: number;
  step_names?: string[];
  load_s?: number;
  idle_s?: number;
}
