// Private key files other users can open, as ssh treats an identity file: the service warns (a structured log line
// naming the setting and the file, never the key) for a [tls] or [leafnodes.tls] key_path that is group- or
// world-readable, at start and at each reload that reads it again, and refuses one every user may write (anyone
// on the host could swap in their own key). Real CLI children, real files from the dev PKI.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CHILD_MS, jsonLines, logLine, type Run, signal } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { within } from '@event-broker/test-support/wait';
import { cli, startCli } from './helpers/cli.js';
import { DEV_PKI_FILES, writeDevPki } from '@event-broker/dev-tools';

const HOST = '127.0.0.1';
const WAIT_MS = 20_000;
const WARNING = 'private key file open to other users';

async function pki(t: TestContext): Promise<(name: string) => string> {
  const dir = tmpDir(t);
  await writeDevPki(dir);
  return (name) => path.join(dir, name);
}

function config(dir: string, file: (name: string) => string): string {
  const F = DEV_PKI_FILES;
  return write(dir, 'base.toml', [
    '[service]',
    `host = "${HOST}"`,
    'port = 0',
    '[tls]',
    `cert_path = "${file(F.eventService.cert)}"`,
    `key_path = "${file(F.eventService.key)}"`,
    '[leafnodes]',
    `host = "${HOST}"`,
    'port = 0',
    '[leafnodes.tls]',
    `cert_path = "${file(F.gateway.cert)}"`,
    `key_path = "${file(F.gateway.key)}"`,
    `root_ca_path = "${file(F.ca.cert)}"`,
    '[log]',
    'format = "json"',
  ]);
}

const warnings = (run: Run) => jsonLines(run.stdout()).filter((l) => l.msg === WARNING);

test('a TLS key file other users can read is used with a warning naming the setting and the file, never the key', async (t) => {
  const file = await pki(t);
  const F = DEV_PKI_FILES;
  fs.chmodSync(file(F.eventService.key), 0o644);
  fs.chmodSync(file(F.gateway.key), 0o640);
  const dir = tmpDir(t);
  const { run } = await startCli(t, ['--config', config(dir, file)]);
  // The last line before SIGHUP is handled.
  await logLine(run, 'listening for leafnode connections', { ms: WAIT_MS });
  const got = warnings(run);
  assert.equal(got.length, 2, run.stdout());
  const bySetting = new Map(got.map((l) => [l.setting, l]));
  assert.deepEqual(pick(bySetting.get('tls.key_path')), {
    level: 40,
    setting: 'tls.key_path',
    file: file(F.eventService.key),
    mode: '0644',
    readable_by: 'everyone',
  });
  assert.deepEqual(pick(bySetting.get('leafnodes.tls.key_path')), {
    level: 40,
    setting: 'leafnodes.tls.key_path',
    file: file(F.gateway.key),
    mode: '0640',
    readable_by: 'group',
  });
  const keyText = fs.readFileSync(file(F.eventService.key), 'utf8');
  assert.ok(
    !run.stdout().includes('PRIVATE KEY') && !run.stdout().includes(keyText.split('\n')[1]!),
    'never the key itself',
  );

  // Tightened and reloaded: the key is read again, no new warning. Loosened again: the reload warns.
  fs.chmodSync(file(F.eventService.key), 0o600);
  await signal(run, 'SIGHUP');
  await logLine(run, 'configuration reloaded', { ms: WAIT_MS });
  assert.equal(warnings(run).length, 2, 'nothing new for a key only its owner reads');
  fs.chmodSync(file(F.eventService.key), 0o604);
  await signal(run, 'SIGHUP');
  await logLine(run, 'configuration reloaded', { n: 2, ms: WAIT_MS });
  assert.equal(warnings(run).length, 3);
  assert.deepEqual(pick(warnings(run)[2]), {
    level: 40,
    setting: 'tls.key_path',
    file: file(F.eventService.key),
    mode: '0604',
    readable_by: 'everyone',
  });
});

test('a key file every user may write is refused: at start (exit 1) and on reload (the running key kept)', async (t) => {
  const file = await pki(t);
  const F = DEV_PKI_FILES;
  const dir = tmpDir(t);
  const base = config(dir, file);

  fs.chmodSync(file(F.gateway.key), 0o666);
  const refused = cli(t, ['--config', base]);
  // As every unusable TLS file: `cannot start`, exit 1.
  assert.equal(await within(refused.exited, 'the service exits', CHILD_MS), 1, refused.stdout());
  const fatal = jsonLines(refused.stdout()).find((l) => l.msg === 'cannot start');
  assert.ok(
    String(fatal?.err).startsWith(`leafnodes.tls.key_path: ${file(F.gateway.key)}: writable by every user`),
    refused.stdout(),
  );

  fs.chmodSync(file(F.gateway.key), 0o600);
  const { run } = await startCli(t, ['--config', base]);
  await logLine(run, 'listening for leafnode connections', { ms: WAIT_MS });
  fs.chmodSync(file(F.eventService.key), 0o646);
  await signal(run, 'SIGHUP');
  const no = await logLine(run, 'configuration reload refused; the running configuration is unchanged', {
    ms: WAIT_MS,
  });
  assert.match(JSON.stringify(no), /tls\.key_path: .*writable by every user/);
  assert.equal(run.child.exitCode, null, 'still serving');
});

function pick(l: Record<string, unknown> | undefined): Record<string, unknown> {
  assert.ok(l !== undefined);
  return { level: l.level, setting: l.setting, file: l.file, mode: l.mode, readable_by: l.readable_by };
}
