// Turns a [tls] config section into options for node:tls, checking each file at start-up so a bad path or a key
// that belongs to another certificate fails with the config key and file named, not at the first handshake.
// Also the peer-certificate helpers the gateway's mTLS auth uses. Making certificates is @event-broker/dev-tools' job.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type tls from 'node:tls';

export type TlsErrorCode =
  /** A file is missing, unreadable or a directory; or a private key every user may write. */
  | 'ETLS_FILE'
  /** A file is not the PEM it should be (no certificate / private key block, or a block that does not parse). */
  | 'ETLS_PEM'
  /** The private key is not the one of the certificate. */
  | 'ETLS_KEY_MISMATCH'
  /** The section is incomplete: verify without root_ca_path, cert_path without key_path or the reverse. */
  | 'ETLS_CONFIG';

/** Every TlsErrorCode with what it means; the README lists the same. */
export const TLS_ERROR_CODES: Readonly<Record<TlsErrorCode, string>> = {
  ETLS_FILE: 'a TLS file is missing, unreadable or a directory, or a private key file every user may write',
  ETLS_PEM: 'a TLS file is not the PEM certificate or private key it should be',
  ETLS_KEY_MISMATCH: 'the private key does not belong to the certificate',
  ETLS_CONFIG: 'the TLS section is incomplete',
};

export class TlsConfigError extends Error {
  override readonly name = 'TlsConfigError';
  readonly code: TlsErrorCode;
  /** The config key at fault, e.g. `tls.key_path`. */
  readonly key: string;
  /** The file at fault, when there is one. */
  readonly file: string | undefined;

  constructor(
    code: TlsErrorCode,
    key: string,
    file: string | undefined,
    reason: string,
    opts: { cause?: unknown } = {},
  ) {
    super(
      file === undefined ? `${key}: ${reason}` : `${key}: ${file}: ${reason}`,
      opts.cause === undefined ? {} : { cause: opts.cause },
    );
    this.code = code;
    this.key = key;
    this.file = file;
  }
}

/** The [tls] section as the service config resolves it (see event-service config-types.ts TlsSection). */
export interface ServerTlsSection {
  cert_path: string;
  key_path: string;
  root_ca_path?: string;
  /** Require a client certificate chained to root_ca_path. */
  verify: boolean;
}

export interface ClientTlsSection {
  /** With key_path: present a client certificate. */
  cert_path?: string;
  key_path?: string;
  /** Trust only these CAs for the server's certificate (default: Node's bundled roots). */
  root_ca_path?: string;
}

export interface TlsLoadOptions {
  /** The section's name, used to prefix keys in errors; default "tls". */
  section?: string;
}

/** Accepted by tls.createServer, https.createServer and tls.createSecureContext alike. */
export interface ServerTlsOptions extends tls.SecureContextOptions {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  minVersion: tls.SecureVersion;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** Spread into tls.connect options (or a NATS client's `tls`). */
export interface ClientTlsOptions extends tls.SecureContextOptions {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
  minVersion: tls.SecureVersion;
}

// TLS 1.0/1.1 are deprecated (RFC 8996); nats-server's minimum is 1.2 as well.
const MIN_VERSION: tls.SecureVersion = 'TLSv1.2';

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----/;

function readFile(key: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory, expected a PEM file'
          : code === 'EACCES'
            ? 'permission denied'
            : `cannot read (${code ?? (err as Error).message})`;
    throw new TlsConfigError('ETLS_FILE', key, file, reason, { cause: err });
  }
}

/** Every certificate in a PEM file (a chain or a CA bundle); at least one. */
function readCertificates(key: string, file: string): { pem: Buffer; certs: crypto.X509Certificate[] } {
  const pem = readFile(key, file);
  const blocks = pem.toString('latin1').match(CERT_BLOCK);
  if (!blocks) {
    const hint = KEY_BLOCK.test(pem.toString('latin1')) ? ' (it holds a private key: are cert and key swapped?)' : '';
    throw new TlsConfigError('ETLS_PEM', key, file, `not a PEM certificate: no BEGIN CERTIFICATE block${hint}`);
  }
  const certs = blocks.map((block, i) => {
    try {
      return new crypto.X509Certificate(block);
    } catch (err) {
      throw new TlsConfigError(
        'ETLS_PEM',
        key,
        file,
        `certificate ${i + 1} does not parse: ${(err as Error).message}`,
        { cause: err },
      );
    }
  });
  return { pem, certs };
}

// --- Who else may open a private key file (ssh's check on an identity file, made a warning here) ---

/** A private key file whose mode lets users other than its owner in. `setting` is the config key that names it. */
export interface KeyFileExposure {
  setting: string;
  file: string;
  /** The permission bits, octal: `0644`. */
  mode: string;
  /** Who besides the owner may read it. */
  readableBy: 'group' | 'everyone' | undefined;
  /** Who besides the owner may write it. */
  writableBy: 'group' | 'everyone' | undefined;
}

/**
 * How open a private key file is, or undefined when only its owner may read or write it (or it cannot be stat'ed:
 * reading it reports that; or on Windows, where the mode bits say nothing). Symbolic links are followed: a mounted
 * Kubernetes secret is a link to a file of the secret's `defaultMode` (0644 unless set).
 */
export function keyFileExposure(setting: string, file: string): KeyFileExposure | undefined {
  if (process.platform === 'win32') return undefined;
  let mode: number;
  try {
    mode = fs.statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
  // ssh refuses an identity file with any of 077 set; execute alone lets nobody read the key, so it is left out.
  if ((mode & 0o066) === 0) return undefined;
  const who = (world: number, group: number) => (mode & world ? 'everyone' : mode & group ? 'group' : undefined);
  return {
    setting,
    file,
    mode: `0${mode.toString(8).padStart(3, '0')}`,
    readableBy: who(0o004, 0o040),
    writableBy: who(0o002, 0o020),
  };
}

/**
 * Logs one warning per private key file other users may open: the setting, the file and its mode, never the key.
 * Not refused (a group-readable key for an `ssl-cert` group, a secret mounted 0644 are common and work); a file
 * every user may write is refused where it is read (readPrivateKey), since anyone could replace the key.
 */
export function warnExposedKeyFiles(
  logger: { warn(obj: object, msg: string): void },
  files: ReadonlyArray<{ setting: string; file: string }>,
): void {
  for (const { setting, file } of files) {
    const e = keyFileExposure(setting, file);
    if (e === undefined) continue;
    // `setting`, not `key`: the logger redacts any field named key.
    logger.warn(
      {
        setting,
        file,
        mode: e.mode,
        ...(e.readableBy && { readable_by: e.readableBy }),
        ...(e.writableBy && { writable_by: e.writableBy }),
      },
      'private key file open to other users',
    );
  }
}

/** Why a private key file must not be used as it is: every user may write it. */
export function keyFileWritableByEveryone(setting: string, file: string): string | undefined {
  const e = keyFileExposure(setting, file);
  return e?.writableBy === 'everyone'
    ? `writable by every user (mode ${e.mode}): anyone on this host could replace the key; chmod 600 it`
    : undefined;
}

function readPrivateKey(key: string, file: string): { pem: Buffer; keyObject: crypto.KeyObject } {
  const pem = readFile(key, file);
  const writable = keyFileWritableByEveryone(key, file);
  if (writable !== undefined) throw new TlsConfigError('ETLS_FILE', key, file, writable);
  const text = pem.toString('latin1');
  const block = KEY_BLOCK.exec(text);
  if (!block) {
    const hint = text.includes('BEGIN CERTIFICATE') ? ' (it holds a certificate: are cert and key swapped?)' : '';
    throw new TlsConfigError('ETLS_PEM', key, file, `not a PEM private key: no BEGIN PRIVATE KEY block${hint}`);
  }
  if (block[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(text)) {
    throw new TlsConfigError(
      'ETLS_PEM',
      key,
      file,
      'the private key is encrypted; give an unencrypted key (mode 0600)',
    );
  }
  try {
    return { pem, keyObject: crypto.createPrivateKey(pem) };
  } catch (err) {
    throw new TlsConfigError('ETLS_PEM', key, file, `private key does not parse: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Reads cert and key, and checks that the key is the certificate's (the first certificate when it is a chain). */
function readPair(prefix: string, certPath: string, keyPath: string): { cert: Buffer; key: Buffer } {
  const cert = readCertificates(`${prefix}.cert_path`, certPath);
  const key = readPrivateKey(`${prefix}.key_path`, keyPath);
  const leaf = cert.certs[0]!;
  if (!leaf.checkPrivateKey(key.keyObject)) {
    throw new TlsConfigError(
      'ETLS_KEY_MISMATCH',
      `${prefix}.key_path`,
      keyPath,
      `the private key does not belong to the certificate in ${certPath} (subject ${leaf.subject.replace(/\n/g, ', ')})`,
    );
  }
  return { cert: cert.pem, key: key.pem };
}

/** Options for a TLS port from a [tls] section; files are read and checked now, synchronously. */
export function loadServerTlsOptions(section: ServerTlsSection, opts: TlsLoadOptions = {}): ServerTlsOptions {
  const prefix = opts.section ?? 'tls';
  const { cert, key } = readPair(prefix, section.cert_path, section.key_path);
  // Without a CA Node would verify client certificates against its public roots: any publicly issued client
  // certificate would get in. Refuse rather than guess.
  if (section.verify && section.root_ca_path === undefined) {
    throw new TlsConfigError(
      'ETLS_CONFIG',
      `${prefix}.root_ca_path`,
      undefined,
      'required when verify = true (the CA that issues client certificates)',
    );
  }
  const out: ServerTlsOptions = {
    cert,
    key,
    minVersion: MIN_VERSION,
    requestCert: section.verify,
    rejectUnauthorized: section.verify,
  };
  if (section.root_ca_path !== undefined) out.ca = readCertificates(`${prefix}.root_ca_path`, section.root_ca_path).pem;
  return out;
}

/** Options for a TLS client (the gateway toward the service, tools, tests) from a client TLS section. */
export function loadClientTlsOptions(section: ClientTlsSection, opts: TlsLoadOptions = {}): ClientTlsOptions {
  const prefix = opts.section ?? 'tls';
  const out: ClientTlsOptions = { minVersion: MIN_VERSION };
  if ((section.cert_path === undefined) !== (section.key_path === undefined)) {
    const missing = section.cert_path === undefined ? 'cert_path' : 'key_path';
    const given = missing === 'cert_path' ? 'key_path' : 'cert_path';
    throw new TlsConfigError('ETLS_CONFIG', `${prefix}.${missing}`, undefined, `required when ${given} is set`);
  }
  if (section.cert_path !== undefined && section.key_path !== undefined) {
    Object.assign(out, readPair(prefix, section.cert_path, section.key_path));
  }
  if (section.root_ca_path !== undefined) out.ca = readCertificates(`${prefix}.root_ca_path`, section.root_ca_path).pem;
  return out;
}

/** A peer certificate's subject as one string, `CN=alice, O=acme` (attribute order as Node reports it). */
export function certificateSubject(
  peerCert: tls.PeerCertificate | tls.DetailedPeerCertificate | crypto.X509Certificate,
): string {
  if (peerCert instanceof crypto.X509Certificate) return peerCert.subject.split('\n').filter(Boolean).join(', ');
  const subject = (peerCert.subject ?? {}) as unknown as Record<string, string | string[] | undefined>;
  const parts: string[] = [];
  for (const [attr, value] of Object.entries(subject)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) parts.push(`${attr}=${v}`);
  }
  return parts.join(', ');
}

/** base64url SHA-256 of a certificate's DER: the `x5t#S256` confirmation value of RFC 8705 section 3.1. */
export function certificateThumbprintS256(der: Buffer): string {
  return crypto.createHash('sha256').update(der).digest('base64url');
}
