// `[store] backend = "jetstream"` and its keys: defaults, bounds, names, and each backend's keys refused with the
// other, every problem as `file:line: key: reason`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { formatConfig, loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { jetStreamStoreConfig } from '../src/handlers/jetstream/store-config.js';
import { assertOneProblem, refused } from './helpers/service-config.js';

test('backend defaults to sqlite; jetstream keys are absent until set, and the backend fills their defaults', (t) => {
  const dir = tmpDir(t);
  const sqlite = loadServiceConfig({ configPath: write(dir, 'a.toml', ['[store]', 'path = "e.db"']) }).config;
  assert.equal(sqlite.store?.backend, 'sqlite');
  assert.equal(sqlite.store?.stream, undefined);
  const js = loadServiceConfig({
    configPath: write(dir, 'b.toml', [
      '[store]',
      'backend = "jetstream"',
      'stream = "ORDERS"',
      'replicas = 3',
      'max_age = "72h"',
      'max_bytes = "10GB"',
      'domain = "HUB"',
      'duplicate_window = "10m"',
      'ack_wait = "5s"',
    ]),
  }).config;
  assert.deepEqual(jetStreamStoreConfig(js.store), {
    stream: 'ORDERS',
    replicas: 3,
    maxAgeMs: 72 * 3_600_000,
    maxBytes: 10 * 1024 ** 3,
    domain: 'HUB',
    requestTimeoutMs: 5_000,
    duplicateWindowMs: 600_000,
    ackWaitMs: 5_000,
  });
  assert.deepEqual(jetStreamStoreConfig(resolveServiceConfig({ store: { backend: 'jetstream' } }).store), {
    stream: 'EVENTS',
    replicas: 1,
    maxAgeMs: 0,
    maxBytes: undefined,
    domain: undefined,
    requestTimeoutMs: 5_000,
    duplicateWindowMs: 120_000,
    ackWaitMs: 30_000,
  });
  // Printed back and loaded again, the same settings.
  const printed = formatConfig(js);
  assert.match(printed, /backend = "jetstream"/);
  const again = loadServiceConfig({ configPath: write(dir, 'c.toml', printed.split('\n')) }).config;
  assert.deepEqual(again.store, js.store);
});

test('a JetStream key with backend sqlite is refused at its line, naming the backend to set', (t) => {
  const file = write(tmpDir(t), 'a.toml', ['[store]', 'path = "e.db"', 'replicas = 3']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    3,
    'store.replicas',
    'ECONFIG_VALUE',
    /is a JetStream setting, unused by backend = "sqlite": set backend = "jetstream"/,
  );
});

test('path with backend jetstream is refused: the events go to the stream', (t) => {
  const file = write(tmpDir(t), 'a.toml', ['[store]', 'backend = "jetstream"', 'path = "e.db"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    3,
    'store.path',
    'ECONFIG_VALUE',
    /is the SQLite file, unused by backend = "jetstream"/,
  );
});

test('bad values: an unknown backend, a stream name that is no subject token, replicas past 5, a duplicate window', (t) => {
  const dir = tmpDir(t);
  const cases: [string[], number, string, string, RegExp][] = [
    [['backend = "redis"'], 2, 'store.backend', 'ECONFIG_VALUE', /one of "sqlite", "jetstream"/],
    [['backend = "jetstream"', 'stream = "my.events"'], 3, 'store.stream', 'ECONFIG_VALUE', /letters, digits/],
    [['backend = "jetstream"', 'replicas = 7'], 3, 'store.replicas', 'ECONFIG_RANGE', /from 1 to 5/],
    [['backend = "jetstream"', 'domain = "a b"'], 3, 'store.domain', 'ECONFIG_VALUE', /JetStream domain/],
    [['backend = "jetstream"', 'max_bytes = 0'], 3, 'store.max_bytes', 'ECONFIG_RANGE', /size/],
    [['backend = "jetstream"', 'duplicate_window = "500ms"'], 3, 'store.duplicate_window', 'ECONFIG_RANGE', /1s/],
    [['backend = "jetstream"', 'duplicate_window = "soon"'], 3, 'store.duplicate_window', 'ECONFIG_VALUE', /duration/],
    [
      ['backend = "jetstream"', 'max_age = "1m"', 'duplicate_window = "2m"'],
      4,
      'store.duplicate_window',
      'ECONFIG_RANGE',
      /must not exceed max_age \(60000 ms\): JetStream refuses .*got 120000 ms/,
    ],
    [['duplicate_window = "2m"'], 2, 'store.duplicate_window', 'ECONFIG_VALUE', /is a JetStream setting/],
    [['backend = "jetstream"', 'ack_wait = "200ms"'], 3, 'store.ack_wait', 'ECONFIG_RANGE', /1s/],
    [['ack_wait = "10s"'], 2, 'store.ack_wait', 'ECONFIG_VALUE', /is a JetStream setting/],
  ];
  cases.forEach(([lines, line, key, code, reason], i) => {
    const file = write(dir, `c${i}.toml`, ['[store]', ...lines]);
    assertOneProblem(
      refused(() => loadServiceConfig({ configPath: file })),
      file,
      line,
      key,
      code,
      reason,
    );
  });
});

test('duplicate_window defaults to 2m, or to max_age when that is shorter (as nats-server shortens its own)', () => {
  const window = (store: object) =>
    jetStreamStoreConfig(resolveServiceConfig({ store: { backend: 'jetstream', ...store } }).store).duplicateWindowMs;
  assert.equal(window({}), 120_000);
  assert.equal(window({ max_age: '30s' }), 30_000);
  assert.equal(window({ max_age: '1h' }), 120_000);
  assert.equal(window({ max_age: '1h', duplicate_window: '20m' }), 1_200_000);
});
