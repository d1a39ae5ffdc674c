// The settings both processes' ports share, declared once: `allowed_origins` (WebSocket and monitoring) and
// `allowed_hosts` (monitoring), each element checked so a typo is a `file:line: key: reason` at load, not a page
// silently refused.
import { decodedOrProblems, schema, tomlString, type DecodeProblem, type Leaf } from '../config/index.js';
import { describeValue } from '../config/tree.js';
import { originEntryProblem } from './origin.js';
import { hostEntryProblem } from './host-check.js';

/** A list of strings, each checked: every bad element is reported, so a file is fixed in one pass. */
function checkedList(expected: string, problem: (s: string) => string | undefined): Leaf<string[]> {
  return schema.custom<string[]>({
    expected,
    decode(raw) {
      if (!Array.isArray(raw))
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be ${expected}, got ${describeValue(raw)}` };
      const problems: DecodeProblem[] = [];
      raw.forEach((el: unknown, i) => {
        if (typeof el !== 'string') {
          problems.push({ code: 'ECONFIG_TYPE', reason: `must be a string, got ${describeValue(el)}`, at: [i] });
          return;
        }
        const why = problem(el);
        if (why !== undefined) problems.push({ code: 'ECONFIG_VALUE', reason: why, at: [i] });
      });
      return decodedOrProblems(problems, () => [...(raw as string[])]);
    },
    encode: (v) => `[${v.map(tomlString).join(', ')}]`,
  });
}

/** Origins (`scheme://host[:port]`) whose pages are trusted; default none. `*` is refused: name them. */
export function originListSetting(): Leaf<string[]> {
  return checkedList('an array of origins ("https://host[:port]")', (s) =>
    s === '*' ? 'must name origins: "*" would let every web page in' : originEntryProblem(s),
  ).default([]);
}

/** Host names an HTTP port answers besides loopback names and IP literals; default none. */
export function hostListSetting(): Leaf<string[]> {
  return checkedList('an array of host names', hostEntryProblem).default([]);
}
