// Opening the JetStream backend against real nats-server setups, each failure a clear error naming what to change:
// a server without JetStream, a hub whose $JS.API a nats-server leaf in between denies, the hub setups that work
// (a named domain announced to the leaf, default_js_domain on the leaf), an unknown domain, a stream that exists
// with other settings, and a JetStream API that never answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nanos } from 'nats';
import { natsServerSkip, startNatsLeaf, startNatsServer } from '@event-broker/test-support/nats-server';
import { freePort, HOST } from '@event-broker/test-support/processes';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { JetStreamStoreError } from '../src/handlers/jetstream/connection.js';
import { streamLayout } from '../src/handlers/jetstream/layout.js';
import { connectTo, event, openBackend, startJetStream, type OpenOptions } from './helpers/jetstream.js';

const skip = natsServerSkip();

async function refusal(p: Promise<unknown>): Promise<JetStreamStoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof JetStreamStoreError, String(err));
    return err;
  }
  assert.fail('the backend opened');
}

/** A JetStream hub with a leaf port, `jsLines` inside its jetstream block, `lines` at its top. */
async function startHub(t: Parameters<typeof tmpDir>[0], jsLines: string[] = [], lines: string[] = []) {
  const leafPort = await freePort();
  const dir = tmpDir(t, 'hub-');
  const hub = await startNatsServer(t, [
    `jetstream { store_dir: ${JSON.stringify(dir)}${jsLines.map((l) => `, ${l}`).join('')} }`,
    `leafnodes { listen: "${HOST}:${leafPort}" }`,
    ...lines,
  ]);
  return { hub, leafPort };
}

/** A nats-server leaf of the hub (no JetStream of its own) in the service's place, once its link is up. */
async function leafOf(t: Parameters<typeof tmpDir>[0], leafPort: number, config: string[] = []) {
  const leaf = await startNatsLeaf(leafPort, { config });
  t.after(() => leaf.stop('SIGKILL'));
  await until(async () => {
    const res = await fetch(`http://${HOST}:${leaf.httpPort}/leafz`);
    return (((await res.json()) as { leafs?: unknown[] }).leafs ?? []).length === 1;
  }, 'the leaf link is up');
  return leaf;
}

async function openThroughLeaf(t: Parameters<typeof tmpDir>[0], port: number, opts: OpenOptions) {
  return openBackend(t, await connectTo(t, port), { ...opts, store: { request_timeout: 2_000, ...opts.store } });
}

test('a server without JetStream: EJETSTREAM_UNAVAILABLE saying so', { skip }, async (t) => {
  const server = await startNatsServer(t, []);
  const err = await refusal(openBackend(t, await connectTo(t, server.port)));
  assert.equal(err.code, 'EJETSTREAM_UNAVAILABLE');
  assert.match(err.message, /\$JS\.API\.INFO has no responder: the server has no JetStream/);
});

test('a hub that announces no JetStream: the error says to enable it on the cluster', { skip }, async (t) => {
  const server = await startNatsServer(t, []);
  const err = await refusal(openBackend(t, await connectTo(t, server.port), { hubJetStream: false }));
  assert.match(err.message, /the hub runs no JetStream .*enable jetstream/);
});

test(
  'a plain JetStream hub behind a nats-server leaf: $JS.API is denied on the link, the error names the settings',
  { skip },
  async (t) => {
    const { leafPort } = await startHub(t);
    const leaf = await leafOf(t, leafPort);
    const err = await refusal(openThroughLeaf(t, leaf.clientPort, { hubJetStream: true }));
    assert.equal(err.code, 'EJETSTREAM_UNAVAILABLE');
    assert.match(err.message, /denies \$JS\.API.*jetstream \{ domain: NAME \}.*\[store\] domain.*default_js_domain/);
  },
);

test(
  'default_js_domain on the hub does not lift the leaf deny; on the leaf it does (plain $JS.API)',
  { skip },
  async (t) => {
    const onHub = await startHub(t, [], ['default_js_domain: { "$G": "" }']);
    const leaf1 = await leafOf(t, onHub.leafPort);
    await refusal(openThroughLeaf(t, leaf1.clientPort, { hubJetStream: true }));
    const plain = await startHub(t);
    const leaf2 = await leafOf(t, plain.leafPort, ['default_js_domain: { "$G": "" }']);
    const backend = await openThroughLeaf(t, leaf2.clientPort, { hubJetStream: true });
    const [r] = await backend.append([event('through-leaf')]);
    assert.equal(r!.seq, 1);
    assert.equal((await backend.get('through-leaf'))?.seq, 1);
  },
);

test(
  'a hub with jetstream { domain }: the announced domain is used; an unknown [store] domain is named',
  { skip },
  async (t) => {
    const { leafPort } = await startHub(t, ['domain: HUB']);
    const leaf = await leafOf(t, leafPort);
    const backend = await openThroughLeaf(t, leaf.clientPort, { hubJetStream: true, hubDomain: 'HUB' });
    assert.equal((await backend.append([event('in-domain')]))[0]!.seq, 1);
    // [store] domain wins over the announced one, and a wrong one is named with what the hub announces.
    const err = await refusal(openThroughLeaf(t, leaf.clientPort, { hubDomain: 'HUB', store: { domain: 'OTHER' } }));
    assert.match(
      err.message,
      /no JetStream answers in domain "OTHER" .*the hub announces domain "HUB".*\[store\] domain/,
    );
    const configured = await openThroughLeaf(t, leaf.clientPort, { store: { domain: 'HUB' } });
    assert.equal((await configured.get('in-domain'))?.seq, 1);
  },
);

test('a stream with other settings is refused, naming each difference; it is left as it was', { skip }, async (t) => {
  const js = await startJetStream(t);
  const nc = await connectTo(t, js.port);
  const layout = streamLayout();
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({
    name: layout.stream,
    subjects: [...layout.subjects],
    max_age: nanos(3_600_000),
    max_bytes: 1_000_000,
  });
  const err = await refusal(openBackend(t, nc, { store: { max_bytes: 2_000_000 } }));
  assert.equal(err.code, 'EJETSTREAM_STREAM');
  assert.match(err.message, /"EVENTS" exists with other settings: /);
  assert.match(err.message, /max_age is 3600000000000, wanted 0 \(\[store\] max_age/);
  assert.match(err.message, /max_bytes is 1000000, wanted 2000000 \(\[store\] max_bytes/);
  assert.match(err.message, /discard is old, wanted new/);
  assert.match(err.message, /never changes an existing stream/);
  const after = (await jsm.streams.info(layout.stream)).config;
  assert.deepEqual([after.max_age, after.max_bytes], [nanos(3_600_000), 1_000_000]);
  // The same settings are accepted.
  const ok = await openBackend(t, nc, { store: { max_age: 3_600_000, max_bytes: 1_000_000 } }).catch((e: Error) => e);
  assert.ok(
    ok instanceof JetStreamStoreError && /discard is old/.test(ok.message) && !/max_age|max_bytes/.test(ok.message),
  );
});

test('a stream of the earlier layout (no routing slots) is refused by its subjects', { skip }, async (t) => {
  const js = await startJetStream(t);
  const nc = await connectTo(t, js.port);
  const jsm = await nc.jetstreamManager();
  // The layout before routing moved into the subject: one token for the id, routing in a header.
  await jsm.streams.add({
    name: 'EVENTS',
    subjects: ['eventstore.EVENTS.e.*', 'eventstore.EVENTS.r.*.*'],
    discard: 'new' as never,
  });
  const err = await refusal(openBackend(t, nc));
  assert.equal(err.code, 'EJETSTREAM_STREAM');
  assert.match(
    err.message,
    /subjects is \["eventstore\.EVENTS\.e\.\*","eventstore\.EVENTS\.r\.\*\.\*"\], wanted \["eventstore\.EVENTS\.\*\.\*\.\*\.\*\.\*"\] \(the stream layout of this version\)/,
  );
  assert.doesNotMatch(err.message, /discard|max_age|duplicate_window/, 'the subjects are the only difference');
  // Another duplicate window is a difference too, named by its key.
  await openBackend(t, nc, { store: { stream: 'WINDOW', duplicate_window: 60_000 } });
  const window = await refusal(openBackend(t, nc, { store: { stream: 'WINDOW' } }));
  assert.match(
    window.message,
    /duplicate_window is 60000000000, wanted 120000000000 \(\[store\] duplicate_window, in ns\)/,
  );
});

test('replicas the cluster cannot place: the refusal says what replicas needs', { skip }, async (t) => {
  const js = await startJetStream(t);
  const err = await refusal(openBackend(t, await connectTo(t, js.port), { store: { replicas: 3 } }));
  assert.equal(err.code, 'EJETSTREAM_STREAM');
  assert.match(err.message, /refused the stream "EVENTS": .*replicas/);
});

test('a JetStream API that never answers: EJETSTREAM_TIMEOUT within request_timeout', { skip }, async (t) => {
  const server = await startNatsServer(t, []);
  // Something subscribes to the API subject (a hub whose JetStream has lost its quorum) and never answers.
  const silent = await connectTo(t, server.port);
  silent.subscribe('$JS.API.>');
  await silent.flush();
  const started = Date.now();
  const err = await refusal(openBackend(t, await connectTo(t, server.port), { store: { request_timeout: 300 } }));
  assert.equal(err.code, 'EJETSTREAM_TIMEOUT');
  assert.match(err.message, /no JetStream answered \$JS\.API\.INFO within 300 ms/);
  assert.ok(Date.now() - started < 5_000);
});
