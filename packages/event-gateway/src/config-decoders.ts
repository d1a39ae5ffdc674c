// The settings whose decoders are written by hand, as the schema (config.ts) uses them: a string or list of strings
// ([auth] issuer, audience), the JWS algorithm allow-list, and the upstream URLs, each checked by parseUpstreamUrl
// (public: the same check for a program that builds a configuration). Each turns a raw value into the setting's
// value or a reason; where the reason is reported (`file:line: key: reason`) is shared/config's.
import { schema as s, type Decoded } from '@event-broker/shared';
import { JWS_ALGORITHMS, type JwsAlgorithm } from './auth/keys.js';

/** nats-server's leafnode port, the default when an upstream URL names none. */
const LEAFNODE_PORT = 7422;

const ok = <T>(value: T): Decoded<T> => ({ ok: true, value });

/** A bad value as a reason shows it: strings quoted (long ones cut), anything else as text. */
function describe(v: unknown): string {
  return typeof v === 'string'
    ? JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)
    : Array.isArray(v)
      ? 'an array'
      : String(v);
}

/** A non-empty string or a non-empty array of them, normalised to the array (`issuer = "x"` is `["x"]`). */
export function stringList(what: string) {
  const expected = `a ${what} string or an array of them`;
  return s.custom<string[]>({
    expected,
    decode(raw) {
      const list: unknown[] = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : [];
      if (typeof raw !== 'string' && !Array.isArray(raw))
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be ${expected}, got ${describe(raw)}` };
      if (list.length === 0) return { ok: false, code: 'ECONFIG_VALUE', reason: 'must name at least one' };
      for (let i = 0; i < list.length; i++) {
        const el = list[i];
        const at = Array.isArray(raw) ? [i] : undefined;
        if (typeof el !== 'string')
          return {
            ok: false,
            code: 'ECONFIG_TYPE',
            reason: `must be a string, got ${describe(el)}`,
            ...(at && { at }),
          };
        if (el === '') return { ok: false, code: 'ECONFIG_VALUE', reason: 'must not be empty', ...(at && { at }) };
      }
      return ok(list as string[]);
    },
    encode: (v) => `[${v.map((x) => JSON.stringify(x)).join(', ')}]`,
  });
}

/** The allow-list: known JWS algorithms, no repeats; `none` named as what it is. */
export function algorithmList() {
  const expected = `an array of JWS algorithms (${JWS_ALGORITHMS.join(', ')})`;
  return s.custom<JwsAlgorithm[]>({
    expected,
    decode(raw) {
      if (!Array.isArray(raw))
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be ${expected}, got ${describe(raw)}` };
      if (raw.length === 0) return { ok: false, code: 'ECONFIG_VALUE', reason: 'must allow at least one algorithm' };
      const seen = new Set<string>();
      for (let i = 0; i < raw.length; i++) {
        const alg: unknown = raw[i];
        if (typeof alg !== 'string')
          return { ok: false, code: 'ECONFIG_TYPE', reason: `must be a string, got ${describe(alg)}`, at: [i] };
        if (alg.toLowerCase() === 'none') {
          return {
            ok: false,
            code: 'ECONFIG_VALUE',
            reason: '"none" is never allowed: an unsigned token proves nothing',
            at: [i],
          };
        }
        if (!(JWS_ALGORITHMS as readonly string[]).includes(alg)) {
          return {
            ok: false,
            code: 'ECONFIG_VALUE',
            reason: `unknown algorithm ${describe(alg)} (known: ${JWS_ALGORITHMS.join(', ')})`,
            at: [i],
          };
        }
        if (seen.has(alg)) return { ok: false, code: 'ECONFIG_VALUE', reason: `${alg} is listed twice`, at: [i] };
        seen.add(alg);
      }
      return ok(raw as JwsAlgorithm[]);
    },
    encode: (v) => `[${v.map((x) => JSON.stringify(x)).join(', ')}]`,
  });
}

/** `nats://host[:port]` or `tls://host[:port]`, normalised with the port; credentials, paths and queries refused. */
export function parseUpstreamUrl(
  text: string,
): { ok: true; url: string; tls: boolean; host: string; port: number } | { ok: false; reason: string } {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { ok: false, reason: `not a URL: ${describe(text)} (expected nats://host:port or tls://host:port)` };
  }
  if (u.protocol !== 'nats:' && u.protocol !== 'tls:') {
    return { ok: false, reason: `scheme must be nats:// or tls://, got ${describe(text)}` };
  }
  if (u.username !== '' || u.password !== '') {
    // A password in a URL ends up in logs and ps output; the settings are redacted wherever they are shown.
    return {
      ok: false,
      reason:
        'must not carry credentials: give them as [upstream] user and password (or token), or authenticate with cert_path and key_path',
    };
  }
  if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') {
    return { ok: false, reason: `must be scheme://host:port only, got ${describe(text)}` };
  }
  if (u.hostname === '') return { ok: false, reason: `has no host: ${describe(text)}` };
  const port = u.port === '' ? LEAFNODE_PORT : Number(u.port);
  if (port === 0) return { ok: false, reason: `port 0 cannot be dialled: ${describe(text)}` };
  const scheme = u.protocol.slice(0, -1);
  return {
    ok: true,
    url: `${scheme}://${u.host.replace(/:\d+$/, '')}:${port}`,
    tls: scheme === 'tls',
    host: u.hostname,
    port,
  };
}

/** [upstream] urls: one URL or a list of them, each checked and normalised by parseUpstreamUrl. */
export function upstreamUrls() {
  const expected = 'an array of nats://host:port or tls://host:port URLs';
  return s.custom<string[]>({
    expected,
    decode(raw) {
      const list: unknown[] = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : [];
      if (typeof raw !== 'string' && !Array.isArray(raw))
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be ${expected}, got ${describe(raw)}` };
      if (list.length === 0) return { ok: false, code: 'ECONFIG_VALUE', reason: 'must name at least one upstream URL' };
      const out: string[] = [];
      for (let i = 0; i < list.length; i++) {
        const el = list[i];
        const at = Array.isArray(raw) ? [i] : undefined;
        if (typeof el !== 'string')
          return {
            ok: false,
            code: 'ECONFIG_TYPE',
            reason: `must be a URL string, got ${describe(el)}`,
            ...(at && { at }),
          };
        const parsed = parseUpstreamUrl(el);
        if (!parsed.ok) return { ok: false, code: 'ECONFIG_VALUE', reason: parsed.reason, ...(at && { at }) };
        out.push(parsed.url);
      }
      return ok(out);
    },
    encode: (v) => `[${v.map((x) => JSON.stringify(x)).join(', ')}]`,
  });
}
