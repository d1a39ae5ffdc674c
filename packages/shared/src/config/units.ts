// Duration and size text, read the way nats-server's configuration reads them and written back so the output of
// formatConfig parses to the same values. Callers get milliseconds and bytes; the schema decides bounds.

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Go `time.ParseDuration` spelling (nats-server parses durations with it), limited to ms..h: `"250ms"`, `"10s"`,
 * `"1.5s"`, `"1h30m"`, `"0"`. Returns milliseconds, or undefined when the text is not a duration or is not a whole
 * number of milliseconds.
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  const part = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    part.lastIndex = pos;
    const m = part.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
    pos = part.lastIndex;
  }
  if (pos === 0) return undefined;
  // 1.1s is 1100.0000000000002 in doubles: round away representation noise, then insist on whole milliseconds.
  const rounded = Math.round(total * 1e6) / 1e6;
  return Number.isSafeInteger(rounded) ? rounded : undefined;
}

/** An exact spelling parseDuration reads back: `"2m"`, `"10s"`, `"250ms"`, `"1m30s"`, `"0s"`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

// nats-server conf/parse.go and the NATS configuration docs: "1K for 1000, 1KB for 1024"; KiB/MiB spellings are
// taken as the same 1024 multiples. Case-insensitive, like nats-server.
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1000,
  kb: 1024,
  ki: 1024,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1024 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1024 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1000 ** 4,
  tb: 1024 ** 4,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
};

/** `"64KB"`, `"1MB"`, `"1MiB"`, `"1.5MB"`, `"512"` → bytes; undefined when not a size or not whole bytes. */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (m === null) return undefined;
  const unit = m[2]!.toLowerCase();
  const mult = unit === '' ? 1 : SIZE_UNITS[unit];
  if (mult === undefined) return undefined;
  const bytes = Number(m[1]) * mult;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The shortest exact spelling in 1024 multiples: `"1MB"`, `"64KB"`, else the number of bytes. */
export function formatByteSize(bytes: number): string | number {
  for (const [unit, size] of [
    ['TB', 1024 ** 4],
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const) {
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return bytes;
}

/** Bytes for a message: `64MB`, `1 byte`, `1000 bytes`. */
export function describeBytes(bytes: number): string {
  const short = formatByteSize(bytes);
  if (typeof short === 'string') return short;
  return bytes === 1 ? '1 byte' : `${bytes} bytes`;
}
