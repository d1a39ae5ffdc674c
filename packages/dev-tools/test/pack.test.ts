// Installable as a library (issue 15): the packed shared, event-service and event-gateway packages install into a
// project outside the workspace, where the README's embedding example runs as written, both CLIs answer, the shipped
// types compile in a strict consumer, and no dev tooling or test code comes along.
// `pnpm pack` is the packer (it writes `workspace:*` ranges as the version and applies publishConfig); pnpm installs,
// preferring its store and metadata cache, with every third-party package pinned to the workspace lockfile's version
// so that the install is the graph the suite tested (and better-sqlite3's build is reused, not compiled again).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from '@event-broker/test-support/tmp';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const PACKED = ['shared', 'event-service', 'event-gateway'];
// The dev PKI's libraries (dev-tools'). jose is not among them: shared verifies tokens with it (shared/src/auth).
const DEV_ONLY = ['@peculiar/x509', 'reflect-metadata'];
// A cold machine resolves metadata from the registry and may compile better-sqlite3: minutes, not seconds.
const INSTALL_MS = 8 * 60_000;
const RUN_MS = 60_000;

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  exports?: Record<string, unknown>;
}

const manifest = (dir: string): Manifest =>
  JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;

/** The environment without npm's `npm_*` settings (pnpm would read them as its own) and without CI's frozen default. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

function run(cmd: string, args: string[], cwd: string, timeout = RUN_MS): SpawnSyncReturns<string> {
  const res = spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout });
  if (res.error) throw res.error;
  return res;
}

function ok(res: SpawnSyncReturns<string>, what: string): string {
  assert.equal(
    res.status,
    0,
    `${what} exited ${res.status}${res.signal ? ` (${res.signal})` : ''}\n${res.stdout}\n${res.stderr}`,
  );
  return res.stdout;
}

/** name -> version for every third-party package the workspace lockfile holds in exactly one version. */
function lockfileVersions(): Record<string, string> {
  const versions = new Map<string, Set<string>>();
  let inPackages = false;
  for (const line of fs.readFileSync(path.join(ROOT, 'pnpm-lock.yaml'), 'utf8').split('\n')) {
    if (/^\S/.test(line)) inPackages = line.startsWith('packages:');
    const m = inPackages ? /^ {2}'?((?:@[^@/]+\/)?[^@:']+)@([^':()]+)'?:$/.exec(line) : null;
    if (m && !m[1]!.startsWith('@event-broker/')) versions.set(m[1]!, (versions.get(m[1]!) ?? new Set()).add(m[2]!));
  }
  return Object.fromEntries([...versions].filter(([, v]) => v.size === 1).map(([name, v]) => [name, [...v][0]!]));
}

/** The README's embedding example, the first ```ts block under "## Embedding it in a Node service", as written. */
function readmeExample(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Embedding it in a Node service'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'the README has an embedding example');
  return m[1]!;
}

// The scratch project's directory, outside the repository, removed after the file's tests.
const work = tmpDir({ after }, 'event-broker-pack-');
let app = '';
const tarballs = new Map<string, string>();

before(() => {
  assert.ok(
    !path
      .relative(ROOT, work)
      .split(path.sep)
      .every((p) => p !== '..'),
    'the scratch project is outside the repository',
  );
  const packs = path.join(work, 'tarballs');
  for (const pkg of PACKED) {
    const dir = path.join(ROOT, 'packages', pkg);
    const { name, version } = manifest(dir);
    ok(run('pnpm', ['pack', '--pack-destination', packs], dir), `pnpm pack in packages/${pkg}`);
    const file = path.join(packs, `${name.slice(1).replace('/', '-')}-${version}.tgz`);
    assert.ok(fs.existsSync(file), `${file} was written`);
    tarballs.set(name, `file:${file}`);
  }
  app = path.join(work, 'app');
  fs.mkdirSync(app);
  const pinned = lockfileVersions();
  const scratch = {
    name: 'scratch-consumer',
    private: true,
    type: 'module',
    dependencies: {
      '@event-broker/shared': tarballs.get('@event-broker/shared'),
      '@event-broker/event-service': tarballs.get('@event-broker/event-service'),
      '@event-broker/event-gateway': tarballs.get('@event-broker/event-gateway'),
    },
    devDependencies: { '@types/node': pinned['@types/node'], typescript: pinned.typescript },
    pnpm: {
      // shared is not on a registry: the service's and the gateway's `@event-broker/shared` come from its tarball.
      overrides: { ...pinned, '@event-broker/shared': tarballs.get('@event-broker/shared') },
      onlyBuiltDependencies: ['better-sqlite3'],
    },
  };
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify(scratch, null, 2));
  ok(
    run('pnpm', ['install', '--prefer-offline', '--frozen-lockfile=false', '--reporter=append-only'], app, INSTALL_MS),
    'pnpm install of the tarballs',
  );
});

test("the README's embedding example runs as written from the installed package", () => {
  fs.writeFileSync(path.join(app, 'example.mjs'), readmeExample());
  const out = ok(run(process.execPath, ['example.mjs'], app), 'node example.mjs');
  assert.equal(out, 'audit.created payload\n');
});

test('both CLIs run from node_modules/.bin: --version and --help', () => {
  for (const pkg of ['event-service', 'event-gateway']) {
    const bin = path.join(app, 'node_modules', '.bin', pkg);
    const { version } = manifest(path.join(ROOT, 'packages', pkg));
    assert.equal(ok(run(bin, ['--version'], app), `${pkg} --version`), `${pkg} ${version}\n`);
    assert.match(ok(run(bin, ['--help'], app), `${pkg} --help`), new RegExp(`^usage: ${pkg} `));
  }
});

test('the shipped types compile in a strict TypeScript consumer, declarations checked too', () => {
  const consumer = `${readmeExample()}
import type { EventService } from '@event-broker/event-service';
import { startGateway } from '@event-broker/event-gateway';
import { createLogger, type Logger } from '@event-broker/shared';
const typed: EventService = svc;
const logger: Logger = createLogger({ level: 'silent' });
export { typed, reply, startGateway, logger };
`;
  fs.writeFileSync(path.join(app, 'consumer.ts'), consumer);
  const tsc = path.join(app, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [
    '--noEmit',
    '--strict',
    '--skipLibCheck',
    'false',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
  ];
  ok(
    run(process.execPath, [tsc, ...args, '--target', 'es2022', '--types', 'node', 'consumer.ts'], app, 2 * RUN_MS),
    'tsc',
  );
});

test('no dev tooling and no test code is installed: shared carries no dev PKI, its dependencies none of its libraries', () => {
  const shared = path.join(app, 'node_modules', '@event-broker', 'shared');
  const installed = manifest(shared);
  for (const dep of DEV_ONLY) assert.equal(installed.dependencies?.[dep], undefined, `shared depends on ${dep}`);
  assert.ok(!fs.existsSync(path.join(shared, 'dist', 'src', 'dev-pki.js')), 'dev-pki.js is not shipped');
  for (const pkg of PACKED) {
    const dir = path.join(app, 'node_modules', '@event-broker', pkg);
    assert.ok(!fs.existsSync(path.join(dir, 'dist', 'test')), `${pkg} ships no compiled tests`);
    assert.ok(!fs.existsSync(path.join(dir, 'test')), `${pkg} ships no test sources`);
  }
  assert.ok(!JSON.stringify(installed.exports).includes('testing'), 'shared exports no test support');
});
