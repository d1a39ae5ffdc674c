// The settings of a leafnode remote (a hub this process dials), shared by the gateway's [upstream] and the event
// service's [[leafnodes.remotes]]: the URL list, the client TLS files and the credentials a nats-server 2.9 hub
// accepts (user/password, token, a .creds file), with the checks that need several of them. Where each section
// places them and what it adds is its schema's (the gateway's config.ts, the service's config.ts).
import { schema as s, stringOrList, type CheckContext, type Decoded } from '../config/index.js';
import { describeValue } from '../config/tree.js';
import { LEAFNODE_DEFAULT_PORT } from './dial.js';

/**
 * `nats://host[:port]` or `tls://host[:port]` (with `bareHostPort`, `host:port` too, meaning nats://), normalised with
 * the port (7422 when absent); credentials, paths and queries refused.
 */
export function parseRemoteUrl(
  text: string,
  opts: RemoteUrlOptions = {},
): { ok: true; url: string; tls: boolean; host: string; port: number } | { ok: false; reason: string } {
  const expected = opts.bareHostPort
    ? 'nats://host:port, tls://host:port or host:port'
    : 'nats://host:port or tls://host:port';
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
  let u: URL;
  try {
    u = new URL(hasScheme || !opts.bareHostPort ? text : `nats://${text}`);
  } catch {
    return { ok: false, reason: `not a URL: ${describeValue(text)} (expected ${expected})` };
  }
  if (u.protocol !== 'nats:' && u.protocol !== 'tls:') {
    return { ok: false, reason: `scheme must be nats:// or tls://, got ${describeValue(text)}` };
  }
  if (u.username !== '' || u.password !== '') {
    // A password in a URL ends up in logs and ps output; the settings are redacted wherever they are shown.
    return {
      ok: false,
      reason: `must not carry credentials: give them as ${opts.credentialSettings ?? 'the user and password (or token) settings'}, or authenticate with cert_path and key_path`,
    };
  }
  if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') {
    return { ok: false, reason: `must be scheme://host:port only, got ${describeValue(text)}` };
  }
  if (u.hostname === '') return { ok: false, reason: `has no host: ${describeValue(text)}` };
  const port = u.port === '' ? LEAFNODE_DEFAULT_PORT : Number(u.port);
  if (port === 0) return { ok: false, reason: `port 0 cannot be dialled: ${describeValue(text)}` };
  const scheme = u.protocol.slice(0, -1);
  return {
    ok: true,
    url: `${scheme}://${u.host.replace(/:\d+$/, '')}:${port}`,
    tls: scheme === 'tls',
    host: u.hostname,
    port,
  };
}

export interface RemoteUrlOptions {
  /** Accept `host:port` without a scheme (nats-server remotes do), meaning nats://. */
  bareHostPort?: boolean;
  /** Where a URL's credentials belong instead, for the refusal (`[upstream] user and password (or token)`). */
  credentialSettings?: string;
}

/** One URL or a list of them, each checked and normalised by parseRemoteUrl; at least one. */
export function remoteUrlList(opts: RemoteUrlOptions = {}) {
  return stringOrList<string>({
    expected: `an array of nats://host:port or tls://host:port URLs${opts.bareHostPort ? ' (or host:port)' : ''}`,
    empty: 'must name at least one upstream URL',
    element(el): Decoded<string> {
      if (typeof el !== 'string')
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be a URL string, got ${describeValue(el)}` };
      const parsed = parseRemoteUrl(el, opts);
      return parsed.ok ? { ok: true, value: parsed.url } : { ok: false, code: 'ECONFIG_VALUE', reason: parsed.reason };
    },
  });
}

/** The client TLS files of a remote (loadClientTlsOptions reads them); any of them makes the link TLS. */
export const remoteTlsShape = {
  /** The certificate presented to the hub; with it the link is TLS whatever the scheme. */
  cert_path: s.path().optional(),
  key_path: s.path().optional(),
  /** Trust only this CA for the hub's certificate (default: Node's bundled roots). */
  root_ca_path: s.path().optional(),
};

/** The credentials a nats-server 2.9 hub's leafnode authorization accepts in the leaf CONNECT; never logged or printed. */
export const remoteCredentialShape = {
  /** Sent with `password` when the hub's leafnode authorization names users. */
  user: s.string().optional(),
  /** Plain; the hub may hold it as a bcrypt hash. Required with `user`. */
  password: s.string().optional(),
  /** Sent as CONNECT auth_token (the event service's [leafnodes.authorization] token); not with `user`. */
  token: s.string().optional(),
};

export interface RemoteTlsValues {
  cert_path?: string;
  key_path?: string;
  root_ca_path?: string;
}

export interface RemoteCredentialValues {
  user?: string;
  password?: string;
  token?: string;
  /** A .creds file (user JWT and NKEY seed), for a hub in operator mode. */
  credentials?: string;
}

/** Any TLS file given: the link is TLS whatever the URL's scheme. */
export function hasRemoteTls(v: RemoteTlsValues): boolean {
  return v.cert_path !== undefined || v.root_ca_path !== undefined;
}

/** cert_path and key_path come together. */
export function checkRemoteTls(v: RemoteTlsValues, ctx: CheckContext): void {
  if ((v.cert_path === undefined) !== (v.key_path === undefined)) {
    const given = v.cert_path === undefined ? 'key_path' : 'cert_path';
    const missing = given === 'key_path' ? 'cert_path' : 'key_path';
    ctx.report([missing], 'ECONFIG_MISSING', `is required when ${given} is set`, [given]);
  }
}

/** user and password together; a token, user credentials and a .creds file exclude one another. */
export function checkRemoteCredentials(v: RemoteCredentialValues, ctx: CheckContext): void {
  if (v.user !== undefined && v.password === undefined) {
    ctx.report(['password'], 'ECONFIG_MISSING', 'is required when user is set (the hub checks both)', ['user']);
  }
  if (v.password !== undefined && v.user === undefined) {
    ctx.report(['user'], 'ECONFIG_MISSING', 'is required when password is set', ['password']);
  }
  if (v.token !== undefined && v.user !== undefined) {
    ctx.report(
      ['token'],
      'ECONFIG_VALUE',
      'conflicts with user: a hub authenticates a leaf by a token or by user and password, not both',
    );
  }
  if (v.credentials !== undefined && (v.user !== undefined || v.token !== undefined)) {
    ctx.report(
      ['credentials'],
      'ECONFIG_VALUE',
      `conflicts with ${v.token !== undefined ? 'token' : 'user'}: a .creds file (JWT and NKEY) is the leaf's whole credential, give one of credentials, token, user and password`,
    );
  }
}
