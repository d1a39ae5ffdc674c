// Private key files other users can open: the gateway warns (the setting, the file and its mode, never the key) for
// its [tls] key, its [upstream] key and an [auth] secret_path (an HMAC key: whoever reads it mints tokens) that are
// group- or world-readable, and refuses a secret every user may write (anyone could swap in their own and sign
// tokens the gateway accepts). The dev configuration `npm start` runs, with a fresh dev PKI, warns about nothing.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsonLines, logLine, type Run, signal, spawnCli } from '@event-broker/test-support/child';
import { freePort, HOST } from '@event-broker/test-support/processes';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { cli, devPki, gatewayToml, runToExit, startCli, type Pki } from './helpers/ops.js';
import { DEV_PKI_FILES, writeDevPki } from '@event-broker/dev-tools';

const WARNING = 'private key file open to other users';
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const SERVICE_CLI = path.join(REPO, 'packages/event-service/dist/src/cli.js');

const warnings = (run: { stdout: () => string }) => jsonLines(run.stdout()).filter((l) => l.msg === WARNING);

function secretFile(dir: string, mode: number): string {
  const file = path.join(dir, 'hmac.secret');
  fs.writeFileSync(file, randomBytes(48).toString('base64url'), { mode });
  fs.chmodSync(file, mode);
  return file;
}

/** The tests' gateway TOML, its tokens checked with the HMAC secret `secret` instead of the dev public key. */
function toml(pki: Pki, leafPort: number, secret: string): string[] {
  return gatewayToml(pki, leafPort).map((line) =>
    line.startsWith('public_key_path =') ? `secret_path = "${secret}"` : line,
  );
}

test('the gateway warns for a TLS key, an upstream key and an HMAC secret other users can read, at start and on reload', async (t) => {
  const pki = await devPki(t);
  const F = DEV_PKI_FILES;
  const dir = tmpDir(t);
  const secret = secretFile(dir, 0o604);
  fs.chmodSync(pki.file(F.gateway.key), 0o644);
  fs.chmodSync(pki.file(F.gatewayUpstream.key), 0o640);
  const base = write(dir, 'gateway.toml', toml(pki, await freePort(), secret));
  const { run } = await startCli(t, ['--config', base]);
  await logLine(run, 'gateway started');
  const got = new Map(warnings(run).map((l) => [l.setting, pick(l)]));
  assert.equal(warnings(run).length, 3, run.stdout());
  assert.deepEqual(got.get('tls.key_path'), {
    setting: 'tls.key_path',
    file: pki.file(F.gateway.key),
    mode: '0644',
    readable_by: 'everyone',
  });
  assert.deepEqual(got.get('upstream.key_path'), {
    setting: 'upstream.key_path',
    file: pki.file(F.gatewayUpstream.key),
    mode: '0640',
    readable_by: 'group',
  });
  assert.deepEqual(got.get('auth.secret_path'), {
    setting: 'auth.secret_path',
    file: secret,
    mode: '0604',
    readable_by: 'everyone',
  });
  assert.ok(
    !run.stdout().includes(fs.readFileSync(secret, 'utf8')) && !run.stdout().includes('PRIVATE KEY'),
    'never a key',
  );

  // Reloaded with the secret tightened: only the TLS key is read again and still open (the upstream waits for a restart).
  fs.chmodSync(secret, 0o600);
  await signal(run, 'SIGHUP');
  await logLine(run, 'configuration reloaded');
  const again = warnings(run)
    .slice(3)
    .map((l) => l.setting);
  assert.deepEqual(again, ['tls.key_path']);
});

test('an HMAC secret every user may write is refused as file:line: auth.secret_path (exit 2), and on reload', async (t) => {
  const pki = await devPki(t);
  const dir = tmpDir(t);
  const secret = secretFile(dir, 0o666);
  const base = write(dir, 'gateway.toml', toml(pki, await freePort(), secret));
  const r = await runToExit(t, ['--config', base]);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(r.stderr.includes(`${base}:10: auth.secret_path: ${secret} is writable by every user`), r.stderr);

  fs.chmodSync(secret, 0o600);
  const { run } = await startCli(t, ['--config', base]);
  await logLine(run, 'gateway started');
  fs.chmodSync(secret, 0o622);
  await signal(run, 'SIGHUP');
  const no = await logLine(run, 'configuration reload refused; the running configuration is unchanged');
  assert.match(JSON.stringify(no.problems), /auth\.secret_path: .*writable by every user/);
});

/** A copy of dev/ beside a fresh certs/ (what `npm start` makes on first run), with ports and logs patched for a test. */
async function devTree(t: TestContext): Promise<string> {
  const root = tmpDir(t, 'dev-tree-');
  fs.mkdirSync(path.join(root, 'dev'));
  for (const f of ['event-service.toml', 'event-gateway.toml'])
    fs.copyFileSync(path.join(REPO, 'dev', f), path.join(root, 'dev', f));
  const made = await writeDevPki(path.join(root, 'certs'));
  // Every private key the dev PKI writes is its owner's alone.
  for (const f of made.written.filter((w) => /key\.pem$/.test(w))) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
  return root;
}

function spawnService(t: TestContext, args: string[]): Run {
  return spawnCli(t, SERVICE_CLI, args, { name: 'event-service' });
}

test('the dev configuration npm start runs, with a fresh dev PKI, starts both processes with no key-file warning', async (t) => {
  const root = await devTree(t);
  const json = ['[log]', 'format = "json"'];
  const servicePatch = write(root, 'service-patch.toml', [
    '[service]',
    'port = 0',
    '[websocket]',
    'port = 0',
    '[leafnodes]',
    'port = 0',
    '[monitor]',
    'port = 0',
    ...json,
  ]);
  const service = spawnService(t, ['--config', path.join(root, 'dev/event-service.toml'), '--patch', servicePatch]);
  const leaf = await logLine(service, 'listening for leafnode connections');
  const gatewayPatch = write(root, 'gateway-patch.toml', [
    '[gateway]',
    'port = 0',
    '[websocket]',
    'port = 0',
    '[monitor]',
    'port = 0',
    '[upstream]',
    `urls = ["tls://${HOST}:${leaf.port as number}"]`,
    ...json,
  ]);
  const gateway = cli(t, ['--config', path.join(root, 'dev/event-gateway.toml'), '--patch', gatewayPatch]);
  await logLine(gateway, 'gateway started');
  await logLine(gateway, 'uplink up');
  assert.deepEqual(warnings(service), [], service.stdout());
  assert.deepEqual(warnings(gateway), [], gateway.stdout());
});

function pick(l: Record<string, unknown>): Record<string, unknown> {
  return { setting: l.setting, file: l.file, mode: l.mode, readable_by: l.readable_by };
}
