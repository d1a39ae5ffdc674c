// A development and test PKI made in pure Node (no openssl binary): a CA, server and client certificates with
// ECDSA P-256 keys, and the dev JWT signing key. Loading certificates for a port is shared's tls.ts's job; this
// module only makes them. It lives in the dev-only package so that @peculiar/x509, reflect-metadata and jose never
// ship with the runtime; they load on first use, so a script reading only DEV_PKI_FILES never pays for them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type * as X509 from '@peculiar/x509';

type CryptoKey = crypto.webcrypto.CryptoKey;
type CryptoKeyPair = crypto.webcrypto.CryptoKeyPair;

/** A certificate and its private key, both PEM (the key PKCS#8, `BEGIN PRIVATE KEY`). */
export interface CertificatePem {
  cert: string;
  key: string;
}

export interface ValidityOptions {
  /** Default: one hour ago, so a peer whose clock runs a little behind still accepts it. */
  notBefore?: Date;
  /** Default: 10 years after notBefore for a CA, 2 years for a leaf. */
  notAfter?: Date;
}

export interface CaOptions extends ValidityOptions {
  /** Subject CN; default "event-broker dev CA". Make a second, unrelated CA by calling again (new key). */
  commonName?: string;
}

export interface ServerCertOptions extends ValidityOptions {
  /** Default "localhost". */
  commonName?: string;
  /** Added to the SANs beside DNS localhost, IP 127.0.0.1 and IP ::1. */
  dnsNames?: string[];
  ipAddresses?: string[];
}

export type ClientCertOptions = ValidityOptions;

/** The dev JWT signing key: ES256 (P-256), private PKCS#8 PEM, public SPKI PEM and a JWKS holding the public one. */
export interface JwtSigningKeyPem {
  privateKey: string;
  publicKey: string;
  /** RFC 7638 thumbprint of the public JWK; the JWT header's `kid`. */
  kid: string;
  jwks: { keys: Array<Record<string, string>> };
}

/**
 * The gateway's upstream identity: the one certificate the dev event service admits on its leafnode port
 * (dev/event-service.toml verify_and_map). Distinct from the gateway's server certificate (CN=event-gateway) and
 * the clients' (CN=dev-client), so neither of those can be a leaf.
 */
export const DEV_UPSTREAM_COMMON_NAME = 'event-gateway-upstream';
/** The clients' certificate subject (certs/client.pem). */
export const DEV_CLIENT_COMMON_NAME = 'dev-client';

/** File names writeDevPki uses inside its directory. */
export const DEV_PKI_FILES = {
  ca: { cert: 'ca.pem', key: 'ca-key.pem' },
  eventService: { cert: 'event-service.pem', key: 'event-service-key.pem' },
  gateway: { cert: 'gateway.pem', key: 'gateway-key.pem' },
  gatewayUpstream: { cert: 'gateway-upstream.pem', key: 'gateway-upstream-key.pem' },
  client: { cert: 'client.pem', key: 'client-key.pem' },
  jwt: { privateKey: 'jwt-signing-key.pem', publicKey: 'jwt-signing-pub.pem', jwks: 'jwks.json' },
} as const;

export interface DevPkiResult {
  dir: string;
  /** Files created by this call (absolute paths). */
  written: string[];
  /** Files that existed and were kept. */
  kept: string[];
  /** Problems with kept files worth telling a developer (expired, expiring soon). */
  warnings: string[];
}

const P256: crypto.webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: crypto.webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const CA_DAYS = 3650;
// Dev certificates are written once and kept; two years spares a developer regular regeneration.
const LEAF_DAYS = 730;
const SERVER_DNS_DEFAULT = ['localhost'];
const SERVER_IP_DEFAULT = ['127.0.0.1', '::1'];

type X509Module = typeof X509;
let x509Loaded: Promise<X509Module> | undefined;

function loadX509(): Promise<X509Module> {
  // @peculiar/x509 uses tsyringe, which needs a Reflect metadata polyfill installed before it loads.
  x509Loaded ??= import('reflect-metadata').then(async () => {
    const mod = await import('@peculiar/x509');
    mod.cryptoProvider.set(crypto.webcrypto);
    return mod;
  });
  return x509Loaded;
}

const subtle = crypto.webcrypto.subtle;

async function generateP256(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function privateKeyPem(key: CryptoKey): string {
  return crypto.KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

async function importSigningKey(pem: string): Promise<CryptoKey> {
  const keyObject = crypto.createPrivateKey(pem);
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`dev PKI: the CA key must be ECDSA P-256, got ${keyObject.asymmetricKeyType ?? 'unknown'}`);
  }
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  return subtle.importKey('pkcs8', der, P256, false, ['sign']);
}

function validity(opts: ValidityOptions, days: number): { notBefore: Date; notAfter: Date } {
  const notBefore = opts.notBefore ?? new Date(Date.now() - HOUR_MS);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + days * DAY_MS);
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new RangeError(
      `dev PKI: notAfter ${notAfter.toISOString()} is not after notBefore ${notBefore.toISOString()}`,
    );
  }
  return { notBefore, notAfter };
}

function randomSerial(): string {
  // 16 random bytes with the top bit clear: a positive INTEGER, unique enough that re-issued certs never clash.
  const bytes = crypto.randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** X.509 names are comma-separated RDNs; keep a CN from breaking that syntax. */
function cn(value: string): string {
  if (value.length === 0) throw new RangeError('dev PKI: a common name must not be empty');
  return `CN=${value.replace(/([,+"\\<>;=#])/g, '\\$1')}`;
}

/** A self-signed CA certificate (basicConstraints CA, keyCertSign + cRLSign). */
export async function createCertificateAuthority(opts: CaOptions = {}): Promise<CertificatePem> {
  const x509 = await loadX509();
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: cn(opts.commonName ?? 'event-broker dev CA'),
    ...validity(opts, CA_DAYS),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: privateKeyPem(keys.privateKey) };
}

interface LeafSpec {
  subject: string;
  eku: string;
  extra: X509.Extension[];
}

async function issueLeaf(ca: CertificatePem, spec: LeafSpec, opts: ValidityOptions): Promise<CertificatePem> {
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(ca.cert);
  const signingKey = await importSigningKey(ca.key);
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: spec.subject,
    issuer: caCert.subject,
    ...validity(opts, LEAF_DAYS),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([spec.eku], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      ...spec.extra,
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: privateKeyPem(keys.privateKey) };
}

/** A server certificate (serverAuth) for localhost, 127.0.0.1 and ::1 plus the names given. */
export async function createServerCertificate(
  ca: CertificatePem,
  opts: ServerCertOptions = {},
): Promise<CertificatePem> {
  const x509 = await loadX509();
  const dns = [...new Set([...SERVER_DNS_DEFAULT, ...(opts.dnsNames ?? [])])];
  const ips = [...new Set([...SERVER_IP_DEFAULT, ...(opts.ipAddresses ?? [])])];
  for (const ip of ips) {
    if (net.isIP(ip) === 0) throw new RangeError(`dev PKI: not an IP address: ${ip}`);
  }
  const san = new x509.SubjectAlternativeNameExtension([
    ...dns.map((value) => ({ type: 'dns' as const, value })),
    ...ips.map((value) => ({ type: 'ip' as const, value })),
  ]);
  return issueLeaf(
    ca,
    { subject: cn(opts.commonName ?? 'localhost'), eku: x509.ExtendedKeyUsage.serverAuth, extra: [san] },
    opts,
  );
}

/** A client certificate (clientAuth) whose subject is `CN=<commonName>`. */
export async function createClientCertificate(
  ca: CertificatePem,
  commonName: string,
  opts: ClientCertOptions = {},
): Promise<CertificatePem> {
  const x509 = await loadX509();
  return issueLeaf(ca, { subject: cn(commonName), eku: x509.ExtendedKeyUsage.clientAuth, extra: [] }, opts);
}

/** A fresh ES256 key for signing dev JWTs, with its JWKS (what a verifier would fetch). */
export async function createJwtSigningKey(): Promise<JwtSigningKeyPem> {
  const keys = await generateP256();
  return jwtKeyFromPem(privateKeyPem(keys.privateKey));
}

async function jwtKeyFromPem(privatePem: string): Promise<JwtSigningKeyPem> {
  const jose = await import('jose');
  const publicKey = crypto.createPublicKey(privatePem);
  const jwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(jwk, 'sha256');
  const pub: Record<string, string> = {
    kty: String(jwk.kty),
    crv: String(jwk.crv),
    x: String(jwk.x),
    y: String(jwk.y),
  };
  return {
    privateKey: privatePem,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    kid,
    jwks: { keys: [{ ...pub, kid, alg: 'ES256', use: 'sig' }] },
  };
}

/** The NATS user-JWT permission block (nats-io/jwt v2 `Permissions`) and limits, as the dev token carries them. */
export interface DevTokenPermissions {
  pub?: { allow?: string[]; deny?: string[] };
  sub?: { allow?: string[]; deny?: string[] };
  /** Allow publishing to reply subjects of received requests: at most `max` replies within `ttl` (nanoseconds, as nats-io/jwt). */
  resp?: { max: number; ttl: number };
  /** nats-io/jwt v2 `NatsLimits` (-1: no limit): most subscriptions, largest message, and `data` (bytes; not enforced). */
  subs?: number;
  payload?: number;
  data?: number;
}

export interface DevTokenOptions {
  /** Seconds until `exp`; default 3600. */
  ttlSeconds?: number;
  /** `iss` and `aud`; default "event-broker-dev". */
  issuer?: string;
  audience?: string;
}

export const DEV_TOKEN_ISSUER = 'event-broker-dev';

/** Signs a dev JWT (ES256, `kid` = the key's thumbprint) with the private key PEM from writeDevPki. */
export async function mintDevToken(
  signingKeyPem: string,
  claims: { sub: string; nats: DevTokenPermissions },
  opts: DevTokenOptions = {},
): Promise<string> {
  const jose = await import('jose');
  const { kid } = await jwtKeyFromPem(signingKeyPem);
  const ttl = opts.ttlSeconds ?? 3600;
  if (!(ttl > 0)) throw new RangeError(`dev token: ttl must be positive seconds, got ${ttl}`);
  const now = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({ nats: { ...claims.nats, type: 'user', version: 2 } })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
    .setSubject(claims.sub)
    .setIssuer(opts.issuer ?? DEV_TOKEN_ISSUER)
    .setAudience(opts.audience ?? DEV_TOKEN_ISSUER)
    .setIssuedAt(now)
    .setNotBefore(now - 60)
    .setExpirationTime(now + Math.ceil(ttl))
    .setJti(crypto.randomUUID())
    .sign(crypto.createPrivateKey(signingKeyPem));
}

function exists(file: string): boolean {
  return fs.existsSync(file);
}

function writeFile(file: string, text: string, secret: boolean, result: DevPkiResult): void {
  // The mode applies only when the file is created; chmod also fixes a re-issued file that existed with another mode.
  fs.writeFileSync(file, text, { mode: secret ? 0o600 : 0o644, flag: 'w' });
  fs.chmodSync(file, secret ? 0o600 : 0o644);
  result.written.push(file);
}

function readPair(dir: string, names: { cert: string; key: string }): CertificatePem | undefined {
  const certFile = path.join(dir, names.cert);
  const keyFile = path.join(dir, names.key);
  if (!exists(certFile) || !exists(keyFile)) return undefined;
  return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}

function checkExpiry(file: string, pem: string, result: DevPkiResult): void {
  const cert = new crypto.X509Certificate(pem);
  const left = Date.parse(cert.validTo) - Date.now();
  if (left <= 0) result.warnings.push(`${file} expired on ${cert.validTo}; delete it (and its key) to make a new one`);
  else if (left < 30 * DAY_MS) result.warnings.push(`${file} expires on ${cert.validTo}`);
}

/**
 * Creates the dev PKI in `dir` (made if missing), writing only what is missing: an existing certificate and key
 * pair is kept when it was issued by the CA in `dir`, else re-issued. Keys are written mode 0600.
 */
export async function writeDevPki(dir: string): Promise<DevPkiResult> {
  const abs = path.resolve(dir);
  fs.mkdirSync(abs, { recursive: true });
  const result: DevPkiResult = { dir: abs, written: [], kept: [], warnings: [] };
  const keep = (names: { cert: string; key: string }) => {
    for (const f of [names.cert, names.key]) result.kept.push(path.join(abs, f));
    checkExpiry(path.join(abs, names.cert), fs.readFileSync(path.join(abs, names.cert), 'utf8'), result);
  };
  const store = (names: { cert: string; key: string }, pem: CertificatePem) => {
    writeFile(path.join(abs, names.cert), pem.cert, false, result);
    writeFile(path.join(abs, names.key), pem.key, true, result);
  };

  let ca = readPair(abs, DEV_PKI_FILES.ca);
  if (ca) keep(DEV_PKI_FILES.ca);
  else {
    ca = await createCertificateAuthority();
    store(DEV_PKI_FILES.ca, ca);
  }
  const caX509 = new crypto.X509Certificate(ca.cert);

  // Each with the subject it must have: a pair from an older layout (the upstream certificate was CN=event-gateway,
  // like the gateway's server certificate) is re-issued, since the dev leaf port admits only the listed subject.
  const leaves: Array<[{ cert: string; key: string }, string, () => Promise<CertificatePem>]> = [
    [DEV_PKI_FILES.eventService, 'event-service', () => createServerCertificate(ca, { commonName: 'event-service' })],
    [DEV_PKI_FILES.gateway, 'event-gateway', () => createServerCertificate(ca, { commonName: 'event-gateway' })],
    [
      DEV_PKI_FILES.gatewayUpstream,
      DEV_UPSTREAM_COMMON_NAME,
      () => createClientCertificate(ca, DEV_UPSTREAM_COMMON_NAME),
    ],
    [DEV_PKI_FILES.client, DEV_CLIENT_COMMON_NAME, () => createClientCertificate(ca, DEV_CLIENT_COMMON_NAME)],
  ];
  for (const [names, commonName, make] of leaves) {
    const existing = readPair(abs, names);
    if (existing && issuedBy(existing.cert, caX509) && subjectIs(existing.cert, commonName)) keep(names);
    else store(names, await make());
  }

  const jwtFiles = DEV_PKI_FILES.jwt;
  const jwtPrivate = path.join(abs, jwtFiles.privateKey);
  const jwtOthers = [jwtFiles.publicKey, jwtFiles.jwks].map((f) => path.join(abs, f));
  if (exists(jwtPrivate)) {
    result.kept.push(jwtPrivate);
    // The public half and the JWKS follow from the private key: restore whichever is missing.
    if (jwtOthers.every(exists)) result.kept.push(...jwtOthers);
    else
      writeJwtPublic(
        abs,
        await jwtKeyFromPem(fs.readFileSync(jwtPrivate, 'utf8')),
        result,
        jwtOthers.filter((f) => !exists(f)),
      );
  } else {
    const key = await createJwtSigningKey();
    writeFile(jwtPrivate, key.privateKey, true, result);
    writeJwtPublic(abs, key, result, jwtOthers);
  }
  return result;
}

function writeJwtPublic(dir: string, key: JwtSigningKeyPem, result: DevPkiResult, files: string[]): void {
  for (const file of files) {
    const text =
      file === path.join(dir, DEV_PKI_FILES.jwt.jwks) ? JSON.stringify(key.jwks, null, 2) + '\n' : key.publicKey;
    writeFile(file, text, false, result);
  }
}

function subjectIs(certPem: string, commonName: string): boolean {
  try {
    return new crypto.X509Certificate(certPem).subject === cn(commonName);
  } catch {
    return false;
  }
}

function issuedBy(certPem: string, ca: crypto.X509Certificate): boolean {
  try {
    const cert = new crypto.X509Certificate(certPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}
