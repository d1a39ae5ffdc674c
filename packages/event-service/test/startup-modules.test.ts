// What the CLI loads at start (issue 16 item 5): the packages a configuration does not use yet stay unloaded, and
// load when first needed. A preload (`--import`, through NODE_OPTIONS) writes the main thread's CommonJS module
// cache when the process exits (worker threads have caches of their own); prom-client, pino-pretty and @grpc/grpc-js are CommonJS, so their files show there
// whether they came in by `import` or by `require`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { exitOf, logLine, type Run } from '@event-broker/test-support/child';
import { tmpDir, write, type AfterHook } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { cli } from './helpers/cli.js';

const PRELOAD = [
  "import fs from 'node:fs';",
  "import { createRequire } from 'node:module';",
  "import { isMainThread, threadId } from 'node:worker_threads';",
  'const cache = createRequire(import.meta.url)("node:module")._cache;',
  '// Worker threads (the sinks, the store writer) run the preload too: the main thread alone writes the list, each',
  '// worker adds a line to the threads file.',
  "if (isMainThread) process.on('exit', () => fs.writeFileSync(process.env.LOADED_LIST, Object.keys(cache).join('\\n')));",
  'else fs.appendFileSync(`${process.env.LOADED_LIST}.threads`, `${threadId}\\n`);',
];

/** The packages (by name, from their node_modules path) the main thread had loaded when it exited. */
function packagesIn(list: string): Set<string> {
  const names = new Set<string>();
  for (const file of list.split('\n')) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file.slice(file.lastIndexOf('node_modules/')));
    if (m) names.add(m[1]!);
  }
  return names;
}

/** Starts the CLI on `config` with the preload; `stopped` ends it (SIGINT) and lists the packages it had loaded. */
function start(
  t: AfterHook,
  dir: string,
  config: string,
): { run: Run; stopped: () => Promise<Set<string>>; threads: () => number } {
  const preload = write(dir, 'preload.mjs', PRELOAD);
  const listFile = path.join(dir, 'loaded.txt');
  const env = {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(preload).href}`,
    LOADED_LIST: listFile,
  };
  const run = cli(t, ['--config', config], dir, { env });
  return {
    run,
    async stopped() {
      run.child.kill('SIGINT');
      const r = await exitOf(run);
      assert.equal(r.code, 0, r.stderr);
      return packagesIn(fs.readFileSync(listFile, 'utf8'));
    },
    threads: () =>
      fs.existsSync(`${listFile}.threads`)
        ? fs.readFileSync(`${listFile}.threads`, 'utf8').trim().split('\n').length
        : 0,
  };
}

const BASE = ['[service]', 'host = "127.0.0.1"', 'port = 0', '[monitor]', 'host = "127.0.0.1"', 'port = 0'];

/** Loaded only when a catalogue file gives a type a JSON Schema (events/data-schema.ts, schema-cost.ts). */
const SCHEMA_PACKAGES = ['ajv', 'ajv-formats', 're2js'];

test('the dev-like configuration (store, monitor, text logs) starts no worker thread and loads neither prom-client, gRPC, nats.js, nkeys, Ajv nor re2js', async (t) => {
  const dir = tmpDir(t);
  const config = write(dir, 'service.toml', [
    ...BASE,
    '[store]',
    `path = "${path.join(dir, 'events.db')}"`,
    '[log]',
    'format = "text"',
  ]);
  const s = start(t, dir, config);
  await until(
    () => /INFO \(event-service\): ready/.test(s.run.stdout()),
    'ready',
    undefined,
    () => s.run.stderr(),
  );
  // Text is formatted on the main thread (shared/src/log.ts): no pino-pretty worker; the store's writer and
  // checkpointer start with the first commit.
  const loaded = await s.stopped();
  assert.equal(s.threads(), 0, 'no worker thread at start');
  assert.ok(loaded.has('better-sqlite3'), `the store is on, so its driver loads (the list works): ${[...loaded]}`);
  assert.ok(loaded.has('pino-pretty'), 'text logs are formatted on the main thread');
  for (const name of [
    'prom-client',
    '@grpc/grpc-js',
    '@grpc/proto-loader',
    'nats',
    '@nats-io/nkeys',
    ...SCHEMA_PACKAGES,
  ]) {
    assert.ok(!loaded.has(name), `${name} loaded at start: ${[...loaded].join(', ')}`);
  }
});

test('the first /metrics scrape loads prom-client and answers with the series defined at start', async (t) => {
  const dir = tmpDir(t);
  const config = write(dir, 'service.toml', [...BASE, '[log]', 'format = "json"']);
  const s = start(t, dir, config);
  const port = (await logLine(s.run, 'monitoring listener started')).port as number;
  await logLine(s.run, 'ready');
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
  assert.match(body, /^event_service_/m, 'the service series are there');
  assert.match(body, /^process_cpu_user_seconds_total /m, 'the process series too');
  const loaded = await s.stopped();
  assert.ok(loaded.has('prom-client'), 'prom-client loaded by the scrape');
  assert.ok(!loaded.has('pino-pretty'), 'JSON logs never load the text formatter');
});

test('a catalogue file with a JSON Schema (a pattern) loads Ajv, ajv-formats and re2js at start, to compile it', async (t) => {
  const dir = tmpDir(t);
  write(dir, 'types.toml', [
    '[types.orderPlaced.data]',
    'type = "object"',
    'required = ["ref"]',
    '[types.orderPlaced.data.properties.ref]',
    'type = "string"',
    'pattern = "^[A-Z]{3}-[0-9]+$"',
  ]);
  const config = write(dir, 'service.toml', [
    ...BASE,
    '[catalogue]',
    'files = ["types.toml"]',
    '[log]',
    'format = "json"',
  ]);
  const s = start(t, dir, config);
  await logLine(s.run, 'ready');
  const loaded = await s.stopped();
  for (const name of SCHEMA_PACKAGES) assert.ok(loaded.has(name), `${name} loaded: ${[...loaded].join(', ')}`);
});
