// The value formats of nats-server's monitoring JSON (Go durations, its uptime style, RFC 3339 times), so every
// endpoint of both processes spells a value the way tools reading nats-server expect.

/** RFC 3339 in UTC, as Go's time.Time marshals (milliseconds: all a JS clock gives). */
export function rfc3339(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** nats-server monitor.go myUptime: whole seconds as `1y2d3h4m5s`, leading zero units left out. */
export function uptime(ms: number): string {
  const tsecs = Math.max(0, Math.floor(ms / 1000));
  const tmins = Math.floor(tsecs / 60);
  const thrs = Math.floor(tmins / 60);
  const tdays = Math.floor(thrs / 24);
  const tyrs = Math.floor(tdays / 365);
  if (tyrs > 0) return `${tyrs}y${tdays % 365}d${thrs % 24}h${tmins % 60}m${tsecs % 60}s`;
  if (tdays > 0) return `${tdays}d${thrs % 24}h${tmins % 60}m${tsecs % 60}s`;
  if (thrs > 0) return `${thrs}h${tmins % 60}m${tsecs % 60}s`;
  if (tmins > 0) return `${tmins}m${tsecs % 60}s`;
  return `${tsecs}s`;
}

/** Go's time.Duration.String() for durations under a minute (the rtt field): `0s`, `850µs`, `3.463ms`, `1.5s`. */
export function goDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const trim = (n: number) => String(Number(n.toFixed(6)));
  if (ms < 0.001) return `${Math.round(ms * 1e6)}ns`;
  if (ms < 1) return `${trim(ms * 1000)}µs`;
  if (ms < 1000) return `${trim(ms)}ms`;
  return `${trim(ms / 1000)}s`;
}

/** Go's time.Duration JSON: integer nanoseconds (varz ping_interval, write_deadline). */
export function nanoseconds(ms: number): number {
  return Math.round(ms * 1e6);
}
