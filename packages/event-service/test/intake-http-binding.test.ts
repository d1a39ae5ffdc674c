// The CloudEvents HTTP binding, socket-free (intake-http/binding.ts): which mode a request is in, binary mode's
// attributes and data, a batch's bounds. The listener's answers are intake-http.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  batchEvents,
  binaryEvent,
  bindingMode,
  jsonNestsDeeperThan,
  MAX_BODY_DEPTH,
  mediaType,
  percentDecode,
  structuredEvent,
  type Headers,
} from '../src/intake-http/binding.js';

const h = (o: Record<string, string | string[]>): Headers =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]));

test('the mode: the two CloudEvents media types, ce-specversion for binary, 415 otherwise', () => {
  assert.deepEqual(mediaType('Application/CloudEvents+JSON; charset="UTF-8"'), {
    essence: 'application/cloudevents+json',
    charset: 'utf-8',
  });
  const mode = (o: Record<string, string>) => {
    const m = bindingMode(h(o));
    return m.ok ? m.mode : m.refusal.status;
  };
  assert.equal(mode({ 'content-type': 'application/cloudevents+json' }), 'structured');
  assert.equal(mode({ 'content-type': 'application/cloudevents-batch+json', 'ce-specversion': '1.0' }), 'batch');
  assert.equal(mode({ 'content-type': 'application/json', 'ce-specversion': '1.0' }), 'binary');
  assert.equal(mode({ 'ce-specversion': '1.0' }), 'binary');
  assert.equal(mode({ 'content-type': 'application/json' }), 415);
  assert.equal(mode({ 'content-type': 'application/cloudevents+avro' }), 415);
  assert.equal(mode({ 'content-type': 'application/cloudevents+json; charset=iso-8859-1' }), 415);
});

test('binary mode: percent-decoded attributes, data by Content-Type, object extensions and repeats refused', () => {
  assert.equal(percentDecode('a%20b%E2%82%AC'), 'a b€');
  assert.equal(percentDecode('%E2%82'), undefined);
  assert.equal(percentDecode('%C0%A0'), undefined, 'an overlong encoding is rejected (3.1.3.2)');
  // 3.1.3.2: a value is first unescaped as an RFC 7230 quoted-string (older senders quote rather than encode).
  assert.equal(percentDecode('"/my source"'), '/my source');
  assert.equal(percentDecode('"a\\"b%20c\\\\"'), 'a"b c\\');
  assert.equal(percentDecode('"a%zz"'), undefined);
  assert.equal(percentDecode('a"b'), 'a"b', 'not a quoted-string: taken as it is');
  // Raw UTF-8 in a header reaches node as Latin-1 ('café' as 'cafÃ©'): refused, never stored garbled.
  assert.equal(percentDecode(Buffer.from('café').toString('latin1')), undefined);
  assert.equal(percentDecode('"\u00e9"'), undefined);
  const base = { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 'nodeTerminated' };
  const ev = (o: Record<string, string | string[]>, body = '') => binaryEvent(h({ ...base, ...o }), Buffer.from(body));
  assert.deepEqual(ev({ 'content-type': 'application/vnd.x+json' }, '{"a":[1]}'), {
    ok: true,
    event: {
      specversion: '1.0',
      id: '1',
      source: '/s',
      type: 'nodeTerminated',
      datacontenttype: 'application/vnd.x+json',
      data: { a: [1] },
    },
  });
  const text = ev({ 'content-type': 'text/plain; charset=utf-8' }, 'héllo');
  assert.ok(text.ok && text.event.data === 'héllo');
  const raw = ev({ 'content-type': 'image/png' }, 'xyz');
  assert.ok(raw.ok && raw.event.data_base64 === 'eHl6' && raw.event.data === undefined);
  const none = ev({});
  assert.ok(none.ok && !('data' in none.event) && !('datacontenttype' in none.event));
  const field = (r: ReturnType<typeof binaryEvent>) => (r.ok ? 'ok' : `${r.refusal.status} ${r.refusal.field}`);
  assert.equal(field(ev({ 'content-type': 'application/json' }, '{')), '400 data');
  assert.equal(field(ev({ 'ce-tags': 'a' })), '400 tags');
  assert.equal(field(ev({ 'ce-datacontenttype': 'text/plain' })), '400 datacontenttype');
  assert.equal(field(ev({ 'ce-id': ['1', '2'] })), '400 id');
});

test('a batch: an array of at most max_batch, an element over max_payload marked alone', () => {
  const limits = { maxBatch: 3, maxPayloadBytes: 100 };
  const r = batchEvents(Buffer.from(JSON.stringify([{ a: 1 }, { pad: 'x'.repeat(200) }, 'é'.repeat(60)])), limits);
  assert.ok(r.ok);
  assert.deepEqual([...r.tooLarge], [1, 2], 'bytes, not characters: 60 é are 122 bytes as JSON');
  const many = batchEvents(Buffer.from('[1,2,3,4]'), limits);
  assert.ok(!many.ok && many.refusal.status === 413);
  const obj = batchEvents(Buffer.from('{}'), limits);
  assert.ok(!obj.ok && obj.refusal.status === 400);
  let deep = '1';
  for (let i = 0; i < 100_000; i++) deep = `[${deep}]`;
  const nested = batchEvents(Buffer.from(`[${deep}]`), { maxBatch: 3, maxPayloadBytes: 1_000_000 });
  assert.ok(!nested.ok && nested.refusal.status === 400, 'nested past what the intake takes: refused as a whole');
});

test('a body nested past MAX_BODY_DEPTH is refused from its bytes, before JSON.parse spends seconds on it', () => {
  const nested = (depth: number, open = '[', close = ']') => Buffer.from(open.repeat(depth) + close.repeat(depth));
  assert.equal(jsonNestsDeeperThan(nested(MAX_BODY_DEPTH), MAX_BODY_DEPTH), false);
  assert.equal(jsonNestsDeeperThan(nested(MAX_BODY_DEPTH + 1), MAX_BODY_DEPTH), true);
  assert.equal(jsonNestsDeeperThan(Buffer.from(JSON.stringify({ s: '[[[[\\"[[[[' })), 1), false, 'strings skipped');
  const deep = nested(1_000_000);
  const batch = batchEvents(deep, { maxBatch: 10, maxPayloadBytes: 1 << 20 });
  assert.equal(batch.ok, false);
  assert.match(!batch.ok ? batch.refusal.reason : '', /nests deeper than/);
  const one = structuredEvent(nested(100_000, '{"a":', '}'));
  assert.match(!one.ok ? one.refusal.reason : '', /nests deeper than/);
  const bin = binaryEvent(h({ 'ce-specversion': '1.0', 'content-type': 'application/json' }), deep);
  assert.deepEqual(!bin.ok && [bin.refusal.field, /nests deeper/.test(bin.refusal.reason)], ['data', true]);
});
