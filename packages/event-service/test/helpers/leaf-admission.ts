// What a would-be leaf sends the [leafnodes] port and how admission answers it, for the leaf-admission tests: the
// leaf's CONNECT, the traffic of a leaf that thinks it got in, the refused and admitted answers, a bcrypt password
// and a PKI with a listed leaf identity. The tests (leaf-admission*.test.ts) start the services and judge.
import assert from 'node:assert/strict';
import {
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  type CertificatePem,
} from '@event-broker/dev-tools';
import type { RawConn } from '@event-broker/test-support/raw';
import { tmpDir } from '@event-broker/test-support/tmp';
import { writePem } from './pem-files.js';

// bcrypt of "s3cret" (cost 10) in the $2a$ spelling `nats server passwd` prints (made with bcryptjs, $2b$ → $2a$:
// the same hash for a password under 72 bytes).
export const S3CRET_BCRYPT = '$2a$10$P3PRfLVxh/JQvidla7bMhOOJQ3oLTcjh7YMn.lKIQCcBAxOFLoQ4e';

/** A leaf's CONNECT as nats-server 2.9 sends it (no `lang`), with credentials when given. */
export function leafConnect(creds: Record<string, unknown> = {}): string {
  return `CONNECT ${JSON.stringify({ version: '2.9.10', server_id: 'NRAWLEAF', name: 'raw-leaf', headers: true, ...creds })}\r\n`;
}

/** A valid event (a catalogue type) the intake stores when it arrives as a plain publish on events.<type>. */
function eventBody(id: string): string {
  return JSON.stringify({
    specversion: '1.0',
    id,
    source: '/leaf-test',
    type: 'scanJobCreated',
    producer: { id: 'p', name: 'leaf-test', type: 'service' },
    data: {},
  });
}

/** What a would-be leaf sends once it thinks it is in: interest in everything, an event for the store, a PING. */
export function intrusion(id: string): string {
  const body = eventBody(id);
  return `LS+ >\r\nLMSG events.scanJobCreated ${Buffer.byteLength(body)}\r\n${body}\r\nPING\r\n`;
}

/** Refused as nats-server refuses: the -ERR and the close, and nothing of ours (no LS+, LMSG or PONG) before it. */
export async function assertRefused(conn: RawConn, what: string): Promise<void> {
  const closed = await conn.expectClosed(3000);
  assert.match(closed.rest, /^-ERR 'Authorization Violation'\r\n$/, `${what}: exactly the -ERR, then closed`);
}

export async function assertAdmitted(conn: RawConn, what: string): Promise<void> {
  // Our loop-detection interest comes first after an admitted CONNECT; the PONG answers the leaf's PING.
  await conn.expect(/LS\+ \$LDS\.\S+\r\n/, 3000).catch((err: Error) => assert.fail(`${what}: ${err.message}`));
  await conn.expect(/PONG\r\n/, 3000);
}

export interface Pki {
  dir: string;
  ca: string;
  server: { cert: string; key: string };
  /** The gateway's upstream identity: the one listed leaf. */
  upstream: { cert: string; key: string };
  /** A client certificate of the same CA, as `npm start` hands to gateway clients (certs/client.pem). */
  client: { cert: string; key: string };
}

export async function makePki(t: { after: (fn: () => void) => void }): Promise<Pki> {
  const dir = tmpDir(t, 'leaf-admission-');
  const write = (name: string, pem: CertificatePem) => writePem(dir, name, pem);
  const ca = await createCertificateAuthority({ commonName: 'leaf-admission CA' });
  return {
    dir,
    ca: write('ca', ca).cert,
    server: write('server', await createServerCertificate(ca, { commonName: 'event-service' })),
    upstream: write('upstream', await createClientCertificate(ca, 'event-gateway-upstream')),
    client: write('client', await createClientCertificate(ca, 'dev-client')),
  };
}
