// Who may attach to the [leafnodes] port: the leaf's CONNECT credentials and TLS certificate against
// [leafnodes.authorization] and [leafnodes.tls] verify_and_map, as nats-server 2.9 decides (auth.go
// isLeafNodeAuthorized, checkClientTLSCertSubject), plus a token, which nats-server has for clients only. Secrets are
// compared in constant time, bcrypt hashes off the event loop (bcrypt.ts). Sockets and the wire are the leafnode port's
// and the link's; this module only answers "admit as whom, or why not" (never with a secret in the reason).
import type { X509Certificate } from 'node:crypto';
import type { LeafAdmission, LeafIdentity } from '@event-broker/shared';
import type { LeafnodesSection, LeafUser } from '../config-types.js';
import { BcryptVerifier, isBcrypt } from '../auth/bcrypt.js';
import { checkSecret, sameSecret } from '../auth/secret.js';

/** The credential fields of a leaf CONNECT (nats-server leafConnectInfo user, pass; a client's auth_token). */
export interface LeafCredentials {
  readonly user?: string | undefined;
  readonly pass?: string | undefined;
  readonly token?: string | undefined;
}

export class LeafAuthorizer {
  private readonly bcrypt = new BcryptVerifier();

  constructor(private readonly conf: LeafnodesSection) {}

  /** Starts the bcrypt worker when a configured secret is a bcrypt hash (its start-up stalls the loop ~0.1 s). */
  warm(): void {
    const a = this.conf.authorization;
    const secrets = [a?.password, a?.token, ...(a?.users ?? []).map((u) => u.password)];
    if (secrets.some((x) => x !== undefined && isBcrypt(x))) this.bcrypt.warm();
  }

  /** True when a CONNECT must carry something: INFO then says auth_required, as nats-server's does. */
  get required(): boolean {
    const a = this.conf.authorization;
    return (
      this.conf.tls?.verify_and_map === true ||
      a?.user !== undefined ||
      a?.users !== undefined ||
      a?.token !== undefined
    );
  }

  /**
   * Synchronous unless a bcrypt hash must be checked. `cert`: the leaf's verified TLS certificate, if any; `gone`:
   * aborted when the connection leaves, so a bcrypt check not yet started is dropped.
   */
  authorize(
    creds: LeafCredentials,
    cert: X509Certificate | undefined,
    gone?: AbortSignal,
  ): LeafAdmission | Promise<LeafAdmission> {
    const auth = this.conf.authorization;
    if (this.conf.tls?.verify_and_map === true) {
      // The certificate names the leaf; a user name in CONNECT is not consulted (nats-server warns and ignores it).
      if (cert === undefined) return refuse('verify_and_map: no client certificate');
      const entry = mapCertificate(cert, auth?.users ?? []);
      if (entry === undefined) return refuse(`certificate ${describeCert(cert)} is not one of authorization.users`);
      const identity: LeafIdentity = { method: 'certificate', user: entry.user };
      if (entry.password === undefined) return { ok: true, identity };
      return this.check(
        entry.password,
        creds.pass,
        { identity, gone },
        `wrong password for certificate user ${shown(entry.user)}`,
      );
    }
    if (auth?.user !== undefined) {
      if (creds.user === undefined || !sameSecret(auth.user, creds.user))
        return refuse(creds.user === undefined ? 'no user' : 'unknown user');
      return this.check(
        auth.password!,
        creds.pass,
        { identity: { method: 'password', user: auth.user }, gone },
        `wrong password for user ${shown(auth.user)}`,
      );
    }
    if (auth?.users !== undefined) {
      const entry = creds.user === undefined ? undefined : auth.users.find((u) => u.user === creds.user);
      if (entry === undefined) return refuse(creds.user === undefined ? 'no user' : 'unknown user');
      return this.check(
        entry.password!,
        creds.pass,
        { identity: { method: 'password', user: entry.user }, gone },
        `wrong password for user ${shown(entry.user)}`,
      );
    }
    if (auth?.token !== undefined)
      return this.check(
        auth.token,
        creds.token,
        { identity: { method: 'token' }, gone },
        creds.token === undefined ? 'no token' : 'wrong token',
      );
    // Nobody named (loopback only, config.ts): the certificate, if any, chained to the CA.
    return {
      ok: true,
      identity: cert === undefined ? { method: 'none' } : { method: 'tls', user: describeCert(cert) },
    };
  }

  /** bcrypt checks queued or running now. */
  get bcryptWaiting(): number {
    return this.bcrypt.waitingCount;
  }

  close(): Promise<void> {
    return this.bcrypt.close();
  }

  private check(
    secret: string,
    given: string | undefined,
    on: { identity: LeafIdentity; gone: AbortSignal | undefined },
    why: string,
  ): LeafAdmission | Promise<LeafAdmission> {
    const { identity } = on;
    if (given === undefined) return refuse(`${why.replace(/^wrong /, 'no ')}`);
    const ok = checkSecret(secret, given, { bcrypt: this.bcrypt, gone: on.gone });
    if (typeof ok === 'boolean') return ok ? { ok: true, identity } : refuse(why);
    return ok.then((yes): LeafAdmission => (yes ? { ok: true, identity } : refuse(why)));
  }
}

function refuse(reason: string): LeafAdmission {
  return { ok: false, reason };
}

/** A configured name, short for a log line (names the peer sent are never echoed: one may be a misplaced secret). */
function shown(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}

// --- certificate identities (nats-server auth.go checkClientTLSCertSubject) ---------------------------------------

/**
 * The users entry the certificate names: its email SANs, then DNS SANs, then URI SANs compared as strings, then its
 * subject DN compared with entries written as DNs, attribute by attribute in any order (nats-server's RDNsMatch).
 */
export function mapCertificate(cert: X509Certificate, users: readonly LeafUser[]): LeafUser | undefined {
  const sans = parseSubjectAltName(cert.subjectAltName ?? '');
  for (const kind of ['email', 'DNS', 'URI'] as const) {
    for (const name of sans.filter((s) => s.kind === kind)) {
      const hit = users.find((u) => u.user === name.value);
      if (hit !== undefined) return hit;
    }
  }
  const subject = dnKey(cert.subject.split('\n').join(','));
  if (subject === undefined) return undefined;
  return users.find((u) => u.user.includes('=') && dnKey(u.user) === subject);
}

/** The subject as one RFC 4514 line (Node gives one attribute per line), for logs and /leafz. */
export function describeCert(cert: X509Certificate): string {
  return cert.subject.split('\n').reverse().join(',');
}

/** Node's subjectAltName text: `DNS:a, IP Address:1.2.3.4, email:x@y, URI:u`; values with a comma come JSON-quoted. */
export function parseSubjectAltName(text: string): Array<{ kind: string; value: string }> {
  const out: Array<{ kind: string; value: string }> = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const kind = text.slice(i, colon).trim();
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      // A JSON string: find its closing quote, skipping escapes.
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        value = text.slice(colon + 2, j);
      }
      end = text.indexOf(', ', j + 1);
    } else {
      end = text.indexOf(', ', colon + 1);
      value = text.slice(colon + 1, end < 0 ? text.length : end);
    }
    out.push({ kind, value });
    if (end < 0) break;
    i = end + 2;
  }
  return out;
}

/**
 * A DN as a comparable key: every `TYPE=value` (type upper-cased, value unescaped) sorted, so RDN order does not
 * matter. Undefined when it does not parse.
 */
export function dnKey(dn: string): string | undefined {
  const parts: string[] = [];
  let cur = '';
  const flush = (): boolean => {
    const eq = findUnescaped(cur, '=');
    if (eq <= 0) return false;
    const type = cur.slice(0, eq).trim().toUpperCase();
    const value = unescapeDnValue(cur.slice(eq + 1).trim());
    if (value === undefined) return false;
    parts.push(`${type}=${value}`);
    cur = '';
    return true;
  };
  for (let i = 0; i < dn.length; i++) {
    const ch = dn[i]!;
    if (ch === '\\' && i + 1 < dn.length) {
      cur += ch + dn[i + 1]!;
      i++;
    } else if (ch === ',' || ch === '+' || ch === ';') {
      if (!flush()) return undefined;
    } else {
      cur += ch;
    }
  }
  if (cur.trim() !== '' && !flush()) return undefined;
  if (parts.length === 0) return undefined;
  return parts.sort().join('\u0000');
}

function findUnescaped(s: string, ch: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === ch) return i;
  }
  return -1;
}

/** RFC 4514 value escapes: `\,` and the like, and `\HH` bytes (UTF-8). */
function unescapeDnValue(v: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const ch = v[i]!;
    if (ch !== '\\') {
      bytes.push(...Buffer.from(ch, 'utf8'));
      continue;
    }
    const next = v.slice(i + 1, i + 3);
    if (/^[0-9a-fA-F]{2}$/.test(next)) {
      bytes.push(parseInt(next, 16));
      i += 2;
    } else if (i + 1 < v.length) {
      bytes.push(...Buffer.from(v[i + 1]!, 'utf8'));
      i += 1;
    } else {
      return undefined;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
