// A setting that takes one string or an array of them (`issuer = "x"` or `issuer = ["x", "y"]`), normalised to the
// array: the gateway's [auth] issuer and audience, the upstream and leafnode remote URLs. Each element is checked by
// the caller's element decoder; a failing element of an array is reported at its index (`urls[1]: reason`).
import { schema, type Decoded, type Leaf } from './schema.js';
import { describeValue } from './tree.js';

export interface StringOrListOptions<T> {
  /** What the setting accepts, for messages: `an array of nats://host:port URLs`. */
  expected: string;
  /** The reason for an empty array: `must name at least one upstream URL`. */
  empty: string;
  /** Decodes one element: the lone string, or each element of the array (which may be anything). */
  element(raw: unknown): Decoded<T>;
}

/** A string or a non-empty array, each element decoded by `opts.element`; the value is always the array. */
export function stringOrList<T>(opts: StringOrListOptions<T>): Leaf<T[]> {
  const { expected } = opts;
  return schema.custom<T[]>({
    expected,
    decode(raw): Decoded<T[]> {
      if (typeof raw === 'string') {
        const one = opts.element(raw);
        return one.ok ? { ok: true, value: [one.value] } : one;
      }
      if (!Array.isArray(raw))
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be ${expected}, got ${describeValue(raw)}` };
      if (raw.length === 0) return { ok: false, code: 'ECONFIG_VALUE', reason: opts.empty };
      const out: T[] = [];
      for (let i = 0; i < raw.length; i++) {
        const el = opts.element(raw[i]);
        if (!el.ok) return { ...el, at: [i, ...(el.at ?? [])] };
        out.push(el.value);
      }
      return { ok: true, value: out };
    },
    encode: (v) => `[${v.map((x) => JSON.stringify(x)).join(', ')}]`,
  });
}
