// Client certificates at the gateway: the TLS options that ask for one, and what a TLS socket's peer presented
// (subject for logs, DER for token binding, whether it chains to root_ca_path and OpenSSL's reason if not).
// The handshake does not refuse a bad certificate by itself: the port refuses it with
// `-ERR 'Authorization Violation'` and a log line naming the reason and subject, which a TLS alert cannot carry.
import { constants as cryptoConstants } from 'node:crypto';
import type tls from 'node:tls';
import { certificateSubject, loadServerTlsOptions, type ServerTlsOptions } from '@event-broker/shared';
import type { TlsSection } from '../config-types.js';

/** What the peer of a TLS socket presented. */
export interface PeerCertificateInfo {
  /** A certificate was presented. */
  present: boolean;
  /** It chains to root_ca_path and is within its validity (socket.authorized). */
  authorized: boolean;
  /** OpenSSL's code when not authorized: CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ... */
  authorizationError?: string;
  /** `CN=alice, O=acme`, for logs. */
  subject?: string;
  issuer?: string;
  serialNumber?: string;
  /** The certificate's DER, what a token's `cnf.x5t#S256` is the SHA-256 of. */
  der?: Buffer;
}

export type ClientCertificateVerdict =
  { ok: true; certificate: PeerCertificateInfo } | { ok: false; reason: string; certificate: PeerCertificateInfo };

/**
 * Server TLS options for the NATS and WebSocket ports from [tls]: certificate files read and checked now
 * (TlsConfigError naming the key and file), client certificates requested when verify is on or a CA is given,
 * never refused during the handshake (see checkClientCertificate).
 *
 * While client certificates are requested, no session is ever resumed (SSL_OP_NO_TICKET: no stateless ticket, and
 * the session cache is off, so the stateful id OpenSSL sends instead is never found). A resumed session skips the
 * certificate chain check and keeps the verdict of the first handshake (a certificate expired since still reads as
 * authorized), and issuing the two TLS 1.3 tickets cost ~13 % of every full handshake (OpenSSL 3 serialises each
 * session and parses it back, client certificate included: ~290 µs a connect, bench/RESULTS.md).
 */
export function gatewayTlsOptions(section: TlsSection): ServerTlsOptions {
  const base = loadServerTlsOptions(section);
  const requestCert = section.verify || section.root_ca_path !== undefined;
  return {
    ...base,
    minVersion: section.min_version,
    requestCert,
    rejectUnauthorized: false,
    ...(requestCert && { secureOptions: cryptoConstants.SSL_OP_NO_TICKET }),
  };
}

/** Reads the peer certificate of an established TLS socket. */
export function readPeerCertificate(socket: tls.TLSSocket): PeerCertificateInfo {
  const cert = socket.getPeerCertificate(false) as Partial<tls.PeerCertificate> | null;
  const present = cert !== null && cert.raw !== undefined && cert.raw.length > 0;
  const info: PeerCertificateInfo = { present, authorized: present && socket.authorized };
  const err = socket.authorizationError as unknown;
  if (!info.authorized && err !== undefined && err !== null) {
    // Node's typings say Error; at run time it is OpenSSL's code as a string.
    info.authorizationError =
      typeof err === 'string' ? err : String((err as { code?: unknown }).code ?? (err as Error).message);
  }
  if (present) {
    info.subject = certificateSubject(cert as tls.PeerCertificate);
    if (cert.issuer !== undefined) info.issuer = certificateSubject({ subject: cert.issuer } as tls.PeerCertificate);
    if (cert.serialNumber !== undefined) info.serialNumber = cert.serialNumber;
    info.der = cert.raw!;
  }
  return info;
}

/**
 * Admission by certificate, the first thing the port does once TLS is up. `required` (verify = true): a
 * certificate must be presented. One that is presented must chain to root_ca_path either way: a certificate the
 * gateway cannot trust must not confirm a certificate-bound token.
 */
export function checkClientCertificate(socket: tls.TLSSocket, opts: { required: boolean }): ClientCertificateVerdict {
  const certificate = readPeerCertificate(socket);
  if (!certificate.present) {
    return opts.required ? { ok: false, reason: 'no client certificate', certificate } : { ok: true, certificate };
  }
  if (!certificate.authorized) {
    return {
      ok: false,
      reason: `client certificate refused: ${certificate.authorizationError ?? 'not trusted'}`,
      certificate,
    };
  }
  return { ok: true, certificate };
}
