// Kubernetes audit webhook bodies converted to catalogue events (intake-http/k8s-audit.ts). The fixture
// (fixtures/k8s-audit-eventlist.json) is an `audit.k8s.io/v1` EventList as kube-apiserver's webhook backend posts
// it, built from recorded events: items[0] is the example log entry on Google Distributed Cloud's "Kubernetes audit
// logs" page (an apiserver's record, its apiVersion placeholder filled in), items[1] that request's ResponseComplete
// stage, items[2] a honeypot cluster's recorded event (aquasecurity/tracee's TRC_2 test input, its honeypot-only
// fields dropped), items[3] a request refused at authentication, audited with `user: {}` as
// apiserver filters/authn_audit.go records it. Field meanings: kubernetes.io apiserver-audit.v1 reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { EventCatalogue } from '@event-broker/shared';
import { K8S_AUDIT_SOURCE, K8S_AUDIT_TYPE, k8sAuditEvents, MAX_AUDIT_ITEMS } from '../src/intake-http/k8s-audit.js';

const FIXTURE = new URL('../../test/fixtures/k8s-audit-eventlist.json', import.meta.url);
const recorded = (): { items: Record<string, unknown>[] } & Record<string, unknown> =>
  JSON.parse(readFileSync(FIXTURE, 'utf8')) as { items: Record<string, unknown>[] };
const catalogue = new EventCatalogue();

function convert(body: unknown): Record<string, unknown>[] {
  const r = k8sAuditEvents(body);
  assert.ok(r.ok, JSON.stringify(r));
  return r.events;
}

function refusal(body: unknown): { field: string; reason: string } {
  const r = k8sAuditEvents(body);
  assert.ok(!r.ok, 'refused');
  return { field: r.field, reason: r.reason };
}

test('a recorded EventList becomes one valid catalogue event per audit event', () => {
  const body = recorded();
  const events = convert(body);
  assert.equal(events.length, body.items.length);
  for (const [i, e] of events.entries()) {
    const v = catalogue.validate(structuredClone(e));
    assert.ok(v.ok, `event ${i}: ${JSON.stringify(!v.ok && v.errors)}`);
    assert.equal(e.type, K8S_AUDIT_TYPE);
    assert.equal(e.source, K8S_AUDIT_SOURCE);
    assert.equal(e.data, body.items[i], 'data is the audit event itself');
    assert.equal(e.time, body.items[i]!.stageTimestamp);
    assert.equal(e.verb, body.items[i]!.verb);
  }
  assert.equal(catalogue.key(K8S_AUDIT_TYPE), 'k8s:audit');

  const [received, completed, nonResource, unauthenticated] = events;
  assert.deepEqual(received!.actor, {
    id: 'system:serviceaccount:kube-system:addon-manager-controller-sa',
    object_type: 'serviceaccount',
  });
  assert.equal(received!.subject, '/apis/addon.private.gdc.goog/v1alpha1/namespaces/root/addonsets/root-admin/status');
  assert.deepEqual(received!.object, {
    id: '/apis/addon.private.gdc.goog/v1alpha1/namespaces/root/addonsets/root-admin/status',
    object_type: 'addonsets',
    display_name: 'root-admin',
  });
  assert.notEqual(received!.id, completed!.id, 'two stages of one request are two events');
  assert.ok(String(received!.id).startsWith('8c604d8d-368c-4294-9cfa-e361b4cbbefa/RequestReceived/'));
  assert.deepEqual(nonResource!.actor, { id: 'minikube-user', object_type: 'user' });
  assert.equal(nonResource!.subject, undefined, 'a non-resource request names no object');
  assert.equal(nonResource!.object, undefined);
  assert.equal(unauthenticated!.actor, undefined, 'a request refused at authentication has no actor');
  assert.equal(unauthenticated!.subject, '/api/v1/namespaces/default/pods');
  assert.equal(new Set(events.map((e) => e.id)).size, events.length);
});

test("the API server's retry of a batch repeats every id; a reused Audit-ID in a later request does not", () => {
  const first = convert(recorded()).map((e) => e.id);
  assert.deepEqual(
    convert(recorded()).map((e) => e.id),
    first,
  );
  // A client may set its request's Audit-ID; the server's own stage timestamp tells the two requests apart.
  const body = recorded();
  const later = { ...body.items[2]!, stageTimestamp: '2021-05-09T11:20:01.000001Z' };
  const [again] = convert({ ...body, items: [later] });
  assert.ok(!first.includes(again!.id as string));
});

test('authcontext is never taken from the body', () => {
  const body = recorded();
  body.items[0] = { ...body.items[0]!, authtype: 'system', authid: 'mallory', authclaims: '{}' };
  for (const e of convert(body)) {
    assert.equal(e.authtype, undefined);
    assert.equal(e.authid, undefined);
    assert.equal(e.authclaims, undefined);
  }
});

test('bad bodies are refused naming the field', () => {
  const item = (patch: Record<string, unknown>): unknown => {
    const body = recorded();
    const i = { ...body.items[3]!, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete i[k];
    return { ...body, items: [body.items[0], body.items[1], body.items[2], i] };
  };
  let deep: unknown = 'x';
  for (let i = 0; i < 40; i++) deep = [deep];
  const cases: [string, unknown, string, RegExp][] = [
    ['not an object', [1], '', /EventList/],
    ['null', null, '', /object/],
    ['wrong apiVersion', { ...recorded(), apiVersion: 'audit.k8s.io/v1beta1' }, 'apiVersion', /audit\.k8s\.io\/v1/],
    ['wrong kind', { ...recorded(), kind: 'Event' }, 'kind', /EventList/],
    ['items missing', { apiVersion: 'audit.k8s.io/v1', kind: 'EventList' }, 'items', /array/],
    ['items an object', { ...recorded(), items: {} }, 'items', /array/],
    [
      'too many items',
      { ...recorded(), items: Array.from({ length: MAX_AUDIT_ITEMS + 1 }, () => recorded().items[0]) },
      'items',
      /more than 1000/,
    ],
    ['an item not an object', { ...recorded(), items: [recorded().items[0], 'x'] }, 'items[1]', /object/],
    ['auditID missing', item({ auditID: undefined }), 'items[3].auditID', /required/],
    ['auditID a number', item({ auditID: 7 }), 'items[3].auditID', /string/],
    ['auditID empty', item({ auditID: '' }), 'items[3].auditID', /empty/],
    ['auditID too long', item({ auditID: 'a'.repeat(129) }), 'items[3].auditID', /more than 128/],
    ['stage missing', item({ stage: undefined }), 'items[3].stage', /required/],
    ['stage not a word', item({ stage: 'Response/Complete' }), 'items[3].stage', /stage name/],
    ['verb missing', item({ verb: undefined }), 'items[3].verb', /required/],
    ['requestURI missing', item({ requestURI: undefined }), 'items[3].requestURI', /required/],
    ['stageTimestamp missing', item({ stageTimestamp: undefined }), 'items[3].stageTimestamp', /required/],
    ['stageTimestamp not RFC 3339', item({ stageTimestamp: 'yesterday' }), 'items[3].stageTimestamp', /RFC 3339/],
    ['stageTimestamp hour 24', item({ stageTimestamp: '2024-01-01T24:00:00Z' }), 'items[3].stageTimestamp', /RFC/],
    ['user missing', item({ user: undefined }), 'items[3].user', /object/],
    ['user a string', item({ user: 'alice' }), 'items[3].user', /object/],
    ['username a number', item({ user: { username: 5 } }), 'items[3].user.username', /string/],
    ['objectRef an array', item({ objectRef: [] }), 'items[3].objectRef', /object/],
    [
      'objectRef.name a number',
      item({ objectRef: { resource: 'pods', name: 1 } }),
      'items[3].objectRef.name',
      /string/,
    ],
    [
      'objectRef.namespace too long',
      item({ objectRef: { resource: 'pods', namespace: 'n'.repeat(254) } }),
      'items[3].objectRef.namespace',
      /more than 253/,
    ],
    ['item kind wrong', item({ kind: 'Pod' }), 'items[3].kind', /"Event"/],
    ['nested too deep', item({ requestObject: deep }), 'items[3]', /deeper than 31/],
  ];
  for (const [name, body, field, reason] of cases) {
    const r = refusal(body);
    assert.equal(r.field, field, name);
    assert.match(r.reason, reason, name);
  }
});

test('an empty EventList converts to no events', () => {
  assert.deepEqual(convert({ apiVersion: 'audit.k8s.io/v1', kind: 'EventList', items: [] }), []);
});

// Strings the way Kubernetes writes them and beyond: any characters, within the bounds the module states.
const str = (max: number) =>
  fc.string({ minLength: 1, maxLength: max, unit: 'grapheme' }).filter((s) => s.length <= max);
const time = fc
  .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString().replace('Z', '123Z'));
const auditItem = fc.record(
  {
    level: fc.constantFrom('Metadata', 'Request', 'RequestResponse'),
    auditID: fc.oneof(fc.uuid(), str(128)),
    stage: fc.constantFrom('RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'),
    requestURI: str(300),
    verb: str(128),
    user: fc.record({ username: str(1024), groups: fc.array(str(20)) }, { requiredKeys: [] }),
    objectRef: fc.record(
      {
        resource: str(128),
        namespace: str(253),
        name: str(1024),
        subresource: str(128),
        apiGroup: str(253),
        apiVersion: str(64),
        uid: str(128),
      },
      { requiredKeys: [] },
    ),
    requestObject: fc.jsonValue({ maxDepth: 6 }),
    stageTimestamp: time,
  },
  { requiredKeys: ['auditID', 'stage', 'requestURI', 'verb', 'user', 'stageTimestamp'] },
);

test('property: every accepted audit event converts to an event the catalogue accepts', () => {
  fc.assert(
    fc.property(fc.array(auditItem, { maxLength: 5 }), (items) => {
      const r = k8sAuditEvents({ apiVersion: 'audit.k8s.io/v1', kind: 'EventList', items });
      assert.ok(r.ok, JSON.stringify(r));
      for (const e of r.events) {
        const v = catalogue.validate(e);
        assert.ok(v.ok, JSON.stringify(!v.ok && v.errors));
      }
    }),
    { numRuns: 300 },
  );
});

test('property: any JSON body is either converted to valid events or refused naming a field, never thrown', () => {
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.record({
      apiVersion: fc.constant('audit.k8s.io/v1'),
      kind: fc.constant('EventList'),
      items: fc.array(fc.oneof(auditItem, fc.jsonValue({ maxDepth: 3 })), { maxLength: 4 }),
    }),
  );
  fc.assert(
    fc.property(body, (b) => {
      const r = k8sAuditEvents(b);
      if (r.ok) for (const e of r.events) assert.ok(catalogue.validate(e).ok);
      else assert.ok(typeof r.field === 'string' && r.reason.length > 0);
    }),
    { numRuns: 500 },
  );
});
