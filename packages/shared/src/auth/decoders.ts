// The [auth] settings whose decoders are written by hand: a string or list of strings (issuer, audience) and the
// JWS algorithm allow-list. Each turns a raw value into the setting's value or a reason; where the reason is
// reported (`file:line: key: reason`) is the config schema's.
import { schema as s, type Decoded } from '../config/schema.js';
import { stringOrList } from '../config/string-or-list.js';
import { JWS_ALGORITHMS, type JwsAlgorithm } from './keys.js';

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
  return stringOrList<string>({
    expected: `a ${what} string or an array of them`,
    empty: 'must name at least one',
    element(el): Decoded<string> {
      if (typeof el !== 'string')
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be a string, got ${describe(el)}` };
      if (el === '') return { ok: false, code: 'ECONFIG_VALUE', reason: 'must not be empty' };
      return ok(el);
    },
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
