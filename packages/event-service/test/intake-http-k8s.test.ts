// POST /k8s/audit on the [intake.http] listener: a recorded audit.k8s.io/v1 EventList (fixtures/, the Kubernetes
// documentation's format) becomes one stored k8s_audit event per audit event, under the caller's verified identity;
// the API server's retry of the same batch is answered 200 with duplicates; the token's type claim applies; a bad
// body is 400 naming the field, another media type 415. Real node:http client; the conversion is k8s-audit.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startReceiver } from '@event-broker/test-support/http';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { post, startIntakeService, stored, token, tokenAuth } from './helpers/intake-http.js';

const FIXTURE = readFileSync(new URL('../../test/fixtures/k8s-audit-eventlist.json', import.meta.url), 'utf8');
const PATH = '/k8s/audit';

test('an EventList is stored as k8s_audit events with the caller as authid; a retried batch is all duplicates, 200', async (t) => {
  const dir = tmpDir(t);
  const sink = await startReceiver(t);
  const { svc, port } = await startIntakeService(
    t,
    { auth: tokenAuth(dir) },
    {
      handlers: { event_feed: sink.addr },
    } as never,
    dir,
  );
  const headers = {
    'content-type': 'application/json',
    authorization: `Bearer ${token({ sub: 'kube-apiserver', event_types: ['k8s_audit'] })}`,
  };
  const first = await post(port, FIXTURE, { path: PATH, headers });
  assert.equal(first.status, 200, first.text);
  const results = first.json.results as { id: string; duplicate: boolean }[];
  assert.equal(results.length, 4);
  assert.ok(results.every((r) => !r.duplicate));
  const e = await stored(svc, results[0]!.id);
  assert.deepEqual([e?.type, e?.authtype, e?.authid], ['k8s_audit', 'user', 'kube-apiserver']);

  const retry = await post(port, FIXTURE, { path: PATH, headers });
  assert.equal(retry.status, 200, retry.text);
  assert.deepEqual(
    retry.json.results,
    results.map((r) => ({ id: r.id, duplicate: true })),
  );
  await until(() => results.every((r) => sink.accepted().includes(r.id)), 'delivered');
  assert.equal(sink.got.length, 4, 'each delivered once: the retry stored nothing');

  const scoped = { ...headers, authorization: `Bearer ${token({ sub: 'x', event_types: ['scanJob:*'] })}` };
  const refused = await post(port, FIXTURE, { path: PATH, headers: scoped });
  assert.deepEqual([refused.status, refused.json.error.field], [403, '[0].type']);
  const bad = JSON.parse(FIXTURE) as { items: Record<string, unknown>[] };
  delete bad.items[2]!.auditID;
  const invalid = await post(port, JSON.stringify(bad), { path: PATH, headers });
  assert.deepEqual([invalid.status, invalid.json.error.field], [400, 'items[2].auditID'], invalid.text);
  const yaml = await post(port, 'kind: EventList', {
    path: PATH,
    headers: { ...headers, 'content-type': 'application/yaml' },
  });
  assert.equal(yaml.status, 415);
  const deep = await post(port, '['.repeat(500_000) + ']'.repeat(500_000), { path: PATH, headers });
  assert.deepEqual([deep.status, deep.json.error.field], [400, ''], deep.text);
  assert.match(deep.json.error.reason, /nests deeper than 33 levels/, 'refused before it is parsed');
  const anonymous = await post(port, FIXTURE, { path: PATH, headers: { 'content-type': 'application/json' } });
  assert.equal(anonymous.status, 401, 'the same callers as the CloudEvents routes');
});
