// `[[service.users]]`: client identities as nats-server's `authorization { users [...] }` spells them (opts.go
// parseUsers, parseUserPermissions, parseVariablePermissions, parseAllowResponses): `user`, `password` (plain or a
// bcrypt hash) and `permissions` with `publish` and `subscribe` (a list = allow, or `{ allow, deny }`) and
// `allow_responses` (`true`, or `{ max, expires }`). Every entry is checked whole and every problem reported at its
// own line; passwords never appear in a problem or in the printed configuration. What the entries admit is users.ts's.
import {
  REDACTED,
  decodedOrProblems,
  describeValue,
  formatDuration,
  parsePermissionRule,
  schema as s,
  tomlString,
  type ConfigPath,
  type DecodeProblem,
  type ValueSource,
} from '@event-broker/shared';
import type { ResponsesPermission, ServiceUser, SubjectPermission, UserPermissions } from '../config-values.js';
import { isBcrypt, isCheckableBcrypt } from './bcrypt.js';

/** nats-server const.go DEFAULT_ALLOW_RESPONSE_MAX_MSGS and DEFAULT_ALLOW_RESPONSE_EXPIRATION. */
export const DEFAULT_RESPONSES: Readonly<ResponsesPermission> = Object.freeze({ max: 1, expires: 120_000 });
/** Node clamps a setTimeout delay above 2^31-1 ms; no expiry is longer than that here either. */
const EXPIRES_MAX_MS = 2 ** 31 - 1;
/** Names end up in logs and events: a control character there is a mistake, and would garble a log line. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

type Report = (code: DecodeProblem['code'], reason: string, at: ConfigPath) => void;

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function unknownKeys(table: Record<string, unknown>, known: readonly string[], at: ConfigPath, bad: Report): void {
  for (const k of Object.keys(table)) {
    if (!known.includes(k)) bad('ECONFIG_UNKNOWN_KEY', `unknown key (known here: ${known.join(', ')})`, [...at, k]);
  }
}

/** Subjects of one list; `queue`: subscribe lists, where an entry may be `subject queue`. */
function subjects(raw: unknown, queue: boolean, at: ConfigPath, bad: Report, allow: boolean): string[] | undefined {
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list)) {
    bad('ECONFIG_TYPE', `must be an array of subjects, got ${describeValue(raw)}`, at);
    return undefined;
  }
  if (allow && list.length === 0) {
    // nats-server 2.9 (opts.go parseSubjects) reads an empty allow list as none at all: every subject allowed.
    // Whoever writes one more likely means "nothing"; neither reading is taken.
    bad(
      'ECONFIG_VALUE',
      'is an empty allow list, which nats-server reads as no list (every subject allowed): leave it out to allow every subject, or write deny = [">"] to allow none',
      at,
    );
    return undefined;
  }
  const out: string[] = [];
  list.forEach((entry: unknown, j) => {
    const rule = parsePermissionRule(entry, { queue });
    if (rule !== undefined) {
      out.push(rule.queue === undefined ? rule.subject : `${rule.subject} ${rule.queue}`);
      return;
    }
    const what = queue
      ? 'a subject, or a subject and a queue group ("orders.* workers")'
      : 'a subject (wildcards * and > allowed)';
    bad('ECONFIG_VALUE', `must be ${what}, got ${describeValue(entry)}`, typeof raw === 'string' ? at : [...at, j]);
  });
  return out.length === list.length ? out : undefined;
}

/** `["a", "b"]` (allow), `"a"`, or `{ allow = [...], deny = [...] }`; `{}` sets nothing (nats-server: nil). */
function subjectPermission(raw: unknown, queue: boolean, at: ConfigPath, bad: Report): SubjectPermission | undefined {
  if (!isTable(raw)) {
    const allow = subjects(raw, queue, at, bad, true);
    return allow === undefined ? undefined : { allow };
  }
  unknownKeys(raw, ['allow', 'deny'], at, bad);
  const out: SubjectPermission = {};
  for (const which of ['allow', 'deny'] as const) {
    if (raw[which] === undefined) continue;
    const list = subjects(raw[which], queue, [...at, which], bad, which === 'allow');
    if (list !== undefined) out[which] = list;
  }
  return out.allow === undefined && out.deny === undefined ? undefined : out;
}

const expiresSpec = s.duration({ minMs: 0, maxMs: EXPIRES_MAX_MS }).spec;

/** `true`, `false`, or `{ max, expires }`: 0 takes the default, a negative value means no limit (nats-server). */
function allowResponses(
  raw: unknown,
  source: ValueSource | undefined,
  at: ConfigPath,
  bad: Report,
): ResponsesPermission | undefined {
  if (typeof raw === 'boolean') return raw ? { ...DEFAULT_RESPONSES } : undefined;
  if (!isTable(raw)) {
    bad('ECONFIG_TYPE', `must be true, false or a table with max and expires, got ${describeValue(raw)}`, at);
    return undefined;
  }
  unknownKeys(raw, ['max', 'expires'], at, bad);
  const out = { ...DEFAULT_RESPONSES };
  const max = raw['max'];
  if (max !== undefined) {
    if (typeof max !== 'number' || !Number.isSafeInteger(max))
      bad('ECONFIG_TYPE', `must be an integer (0: the default 1, negative: no limit), got ${describeValue(max)}`, [
        ...at,
        'max',
      ]);
    else if (max !== 0) out.max = max < 0 ? -1 : max;
  }
  const expires = raw['expires'];
  if (typeof expires === 'number' && expires < 0) out.expires = -1;
  else if (typeof expires === 'string' && expires.trim().startsWith('-')) out.expires = -1;
  else if (expires !== undefined) {
    const d = expiresSpec.decode(expires, source);
    if (!d.ok) bad(d.code, `${d.reason} (0: the default "2m", negative: no limit)`, [...at, 'expires']);
    else if (d.value !== 0) out.expires = d.value;
  }
  return out;
}

function permissions(
  raw: unknown,
  source: ValueSource | undefined,
  at: ConfigPath,
  bad: Report,
): UserPermissions | undefined {
  if (!isTable(raw)) {
    bad('ECONFIG_TYPE', `must be a table with publish, subscribe and allow_responses, got ${describeValue(raw)}`, at);
    return undefined;
  }
  unknownKeys(raw, ['publish', 'subscribe', 'allow_responses'], at, bad);
  const out: UserPermissions = {};
  if (raw['publish'] !== undefined) {
    const p = subjectPermission(raw['publish'], false, [...at, 'publish'], bad);
    if (p !== undefined) out.publish = p;
  }
  if (raw['subscribe'] !== undefined) {
    const p = subjectPermission(raw['subscribe'], true, [...at, 'subscribe'], bad);
    if (p !== undefined) out.subscribe = p;
  }
  if (raw['allow_responses'] !== undefined) {
    const r = allowResponses(raw['allow_responses'], source, [...at, 'allow_responses'], bad);
    if (r !== undefined) out.allow_responses = r;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function password(raw: unknown, at: ConfigPath, bad: Report): string | undefined {
  // Never describe the value: it is a secret, or a hash of one.
  if (raw === undefined)
    bad('ECONFIG_MISSING', 'is required (a user alone proves nothing): plain, or a bcrypt hash', at);
  else if (typeof raw !== 'string' || raw === '') bad('ECONFIG_TYPE', 'must be a non-empty string', at);
  else if (isBcrypt(raw) && !isCheckableBcrypt(raw)) {
    bad(
      'ECONFIG_VALUE',
      'starts like a bcrypt hash but is not one that can be checked ($2a$, $2b$ or $2y$, a cost from 04 to 31, then 53 characters of salt and digest)',
      at,
    );
  } else return raw;
  return undefined;
}

/** The `users` setting of `[service]`. */
export function serviceUsers() {
  const expected = 'an array of tables with user, password and permissions';
  return s.custom<ServiceUser[]>({
    expected,
    decode(raw, source) {
      if (!Array.isArray(raw))
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be ${expected}, got ${describeValue(raw)}` };
      if (raw.length === 0)
        return { ok: false, code: 'ECONFIG_VALUE', reason: 'must list at least one user (or leave users out)' };
      const problems: DecodeProblem[] = [];
      const bad: Report = (code, reason, at) => void problems.push({ code, reason, at });
      const out: ServiceUser[] = [];
      const seen = new Set<string>();
      raw.forEach((el: unknown, i) => {
        if (!isTable(el)) return bad('ECONFIG_TYPE', `must be a table, got ${describeValue(el)}`, [i]);
        unknownKeys(el, ['user', 'password', 'permissions'], [i], bad);
        const name = el['user'];
        let user: string | undefined;
        if (name === undefined) bad('ECONFIG_MISSING', 'is required (a non-empty string)', [i, 'user']);
        else if (typeof name !== 'string' || name === '')
          bad('ECONFIG_TYPE', `must be a non-empty string, got ${describeValue(name)}`, [i, 'user']);
        else if (CONTROL.test(name))
          bad('ECONFIG_VALUE', `must not contain control characters, got ${describeValue(name)}`, [i, 'user']);
        // nats-server: Duplicate user "a" detected.
        else if (seen.has(name)) bad('ECONFIG_VALUE', `${describeValue(name)} is listed twice`, [i, 'user']);
        else seen.add((user = name));
        const pw = password(el['password'], [i, 'password'], bad);
        const perms =
          el['permissions'] === undefined ? undefined : permissions(el['permissions'], source, [i, 'permissions'], bad);
        if (user !== undefined && pw !== undefined)
          out.push({ user, password: pw, ...(perms !== undefined && { permissions: perms }) });
      });
      return decodedOrProblems(problems, () => out);
    },
    encode: (users) => `[${users.map(encodeUser).join(', ')}]`,
  });
}

function encodeList(list: readonly string[]): string {
  return `[${list.map(tomlString).join(', ')}]`;
}

function encodeSubjects(p: SubjectPermission): string {
  const parts = [];
  if (p.allow !== undefined) parts.push(`allow = ${encodeList(p.allow)}`);
  if (p.deny !== undefined) parts.push(`deny = ${encodeList(p.deny)}`);
  return `{ ${parts.join(', ')} }`;
}

function encodeUser(u: ServiceUser): string {
  const parts = [`user = ${tomlString(u.user)}`, `password = ${tomlString(REDACTED)}`];
  const p = u.permissions;
  if (p !== undefined) {
    const perms = [];
    if (p.publish !== undefined) perms.push(`publish = ${encodeSubjects(p.publish)}`);
    if (p.subscribe !== undefined) perms.push(`subscribe = ${encodeSubjects(p.subscribe)}`);
    if (p.allow_responses !== undefined) {
      const r = p.allow_responses;
      perms.push(
        `allow_responses = { max = ${r.max}, expires = ${r.expires < 0 ? '-1' : tomlString(formatDuration(r.expires))} }`,
      );
    }
    parts.push(`permissions = { ${perms.join(', ')} }`);
  }
  return `{ ${parts.join(', ')} }`;
}
