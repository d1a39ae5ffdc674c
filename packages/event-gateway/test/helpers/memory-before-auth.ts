// What memory-before-auth.test.ts and memory-before-auth-trickle.test.ts share: the gateway CLI beside nats-server
// with the same TLS certificate and a token, the openers, the bounds (their reasons below) and the report line.
import type { TestContext } from 'node:test';
import { startNatsServer } from '@event-broker/test-support/nats-server';
import { describeFigure, type Opener, type ParkingFigure, tlsOpener } from '@event-broker/test-support/parking';
import { freePort, HOST } from '@event-broker/test-support/processes';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { gatewayToml, startCli, type Pki } from './ops.js';
import { DEV_PKI_FILES as F } from '@event-broker/dev-tools';

export const TOKEN = 's3cret-token';
export const COUNT = 100;
export const MiB = 1024 * 1024;
/**
 * Generous: a TLS connection costs 50-70 KiB on either server; a refused one is dropped at its first byte, its -ERR
 * sent, but Node has read and decrypted a chunk of its burst by then (about 180 KiB per connection of RSS, reused by
 * later rounds, not held). A held 1 MiB line cost 1300 KiB.
 */
export const ATTACK_BOUND_KIB = 384;
export const PARKED_BOUND_KIB = 160;
/**
 * A line trickled one byte per TLS record: 50-170 KiB per connection here, the upper end with the whole suite running
 * beside it (one TLS record per byte is a lot of garbage for the collector to catch up with). A buffer per read cost
 * 620 KiB (review of issue 11, 1a), so twice the parked bound still tells them apart.
 */
export const TRICKLE_BOUND_KIB = 2 * PARKED_BOUND_KIB;

export const attack = (i: number): Buffer =>
  i % 2 === 0
    ? Buffer.from(`INFO {"x":"${'a'.repeat(MiB - 11)}`)
    : Buffer.from(`PUB x ${MiB}\r\n${'a'.repeat(MiB - 1)}`);
export const partialConnect = (): Buffer => Buffer.from(`CONNECT {"auth_token":"${'a'.repeat(4000)}`);

export interface Side {
  pid: number;
  port: number;
}

export async function startBoth(t: TestContext, pki: Pki): Promise<{ ours: Side; theirs: Side }> {
  const dir = tmpDir(t);
  // The upstream is a port nobody listens on: the link stays down, which changes nothing for admission.
  const conf = write(dir, 'gateway.toml', gatewayToml(pki, await freePort(), ['auth_timeout = "60s"']));
  const { run, port } = await startCli(t, ['--config', conf]);
  const nport = await freePort();
  const q = JSON.stringify;
  const natsd = await startNatsServer(
    t,
    [
      `listen: "${HOST}:${nport}"`,
      `tls { cert_file: ${q(pki.file(F.gateway.cert))}, key_file: ${q(pki.file(F.gateway.key))}, ca_file: ${q(pki.file(F.ca.cert))}, timeout: 5 }`,
      `authorization { token: "${TOKEN}", timeout: 60 }`,
    ],
    nport,
  );
  return { ours: { pid: run.child.pid!, port }, theirs: { pid: natsd.pid, port: nport } };
}

export function openers(pki: Pki, port: number): [string, Opener][] {
  const ca = pki.file(F.ca.cert);
  return [
    [
      'TLS with a client certificate',
      tlsOpener(port, { ca, cert: pki.file(F.client.cert), key: pki.file(F.client.key) }),
    ],
    ['TLS without a client certificate', tlsOpener(port, { ca })],
  ];
}

export function report(t: TestContext, what: string, ours: ParkingFigure, theirs: ParkingFigure): void {
  t.diagnostic(`${what}: ${describeFigure('gateway', ours)}; ${describeFigure('nats-server', theirs)}`);
}
