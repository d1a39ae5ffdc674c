// Kubernetes audit webhook bodies (`POST /k8s/audit`) as catalogue events: an `audit.k8s.io/v1` EventList checked
// field by field and turned into one CloudEvents structured event of type `k8s_audit` per audit event. The HTTP
// listener, its auth, the authcontext it stamps and the durable commit are the intake's; this module only converts.
// Reference: kubernetes.io/docs/reference/config-api/apiserver-audit.v1 (Event, EventList, ObjectReference).
import { MAX_EVENT_DEPTH, nestsDeeperThan } from '@event-broker/shared';

export const K8S_AUDIT_TYPE = 'k8s_audit';
export const K8S_AUDIT_SOURCE = '/k8s/audit';
export const K8S_AUDIT_API_VERSION = 'audit.k8s.io/v1';

/**
 * Most audit events one body may hold. kube-apiserver's webhook backend sends at most
 * `--audit-webhook-batch-max-size` events a request, 400 by default (apiserver options/audit.go
 * defaultBatchMaxSize): 1000 leaves room for a raised setting while bounding what one request makes the intake
 * validate and commit. A body's bytes are bounded before this, by the listener's max_payload.
 */
export const MAX_AUDIT_ITEMS = 1000;

export type K8sAuditResult =
  { ok: true; events: Record<string, unknown>[] } | { ok: false; field: string; reason: string };

class Refusal {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {}
}

// Bounds keep every derived attribute inside the envelope's own limits (envelope.ts): an entity id 1024, an
// object_type 128, a verb 128, an id 256, a subject 2048 (the longest path below is under 1,900 characters).
// Kubernetes' own limits are lower: names and namespaces are DNS names (253), an auditID is a UID.
const MAX = {
  auditID: 128,
  stage: 32,
  verb: 128,
  requestURI: 8192,
  username: 1024,
  resource: 128,
  subresource: 128,
  namespace: 253,
  name: 1024,
  apiGroup: 253,
  apiVersion: 64,
  uid: 128,
} as const;

// RFC 3339 as the envelope's `time` takes it (envelope.ts registers the same shape as JSON Schema `date-time`):
// kube-apiserver writes MicroTime, `2022-11-18T23:15:22.882546Z`.
const RFC3339 =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
// A stage is a word (RequestReceived, ResponseStarted, ResponseComplete, Panic); it becomes part of the event id.
const STAGE = /^[A-Za-z]+$/;

/**
 * Converts a parsed webhook body. Refuses the whole body at its first problem, naming the field
 * (`items[3].auditID`): the API server retries a refused batch as a whole, so a partial accept would help no one.
 * The output events carry no authcontext: the intake writes it from the caller's verified identity.
 */
export function k8sAuditEvents(body: unknown): K8sAuditResult {
  try {
    const list = object(body, '');
    literal(list, 'apiVersion', K8S_AUDIT_API_VERSION, '');
    literal(list, 'kind', 'EventList', '');
    const items = list.items;
    if (!Array.isArray(items)) throw new Refusal('items', 'expected an array of audit events');
    if (items.length > MAX_AUDIT_ITEMS) {
      throw new Refusal('items', `holds ${items.length} audit events, more than ${MAX_AUDIT_ITEMS} in one request`);
    }
    return { ok: true, events: items.map((item, i) => auditEvent(item, `items[${i}]`)) };
  } catch (err) {
    if (err instanceof Refusal) return { ok: false, field: err.field, reason: err.reason };
    throw err;
  }
}

function auditEvent(value: unknown, at: string): Record<string, unknown> {
  const item = object(value, at);
  // The log backend writes each event's own kind; the webhook's list items usually leave it out.
  if (item.kind !== undefined) literal(item, 'kind', 'Event', at);
  if (item.apiVersion !== undefined) literal(item, 'apiVersion', K8S_AUDIT_API_VERSION, at);
  const auditID = text(item, 'auditID', at, MAX.auditID);
  const stage = text(item, 'stage', at, MAX.stage);
  if (!STAGE.test(stage)) throw new Refusal(`${at}.stage`, 'expected a stage name such as ResponseComplete');
  const verb = text(item, 'verb', at, MAX.verb);
  text(item, 'requestURI', at, MAX.requestURI);
  const stageTimestamp = text(item, 'stageTimestamp', at, 64);
  if (!RFC3339.test(stageTimestamp) || Number.isNaN(Date.parse(stageTimestamp))) {
    throw new Refusal(`${at}.stageTimestamp`, 'expected an RFC 3339 time such as 2024-05-01T10:00:00.123456Z');
  }
  const user = object(item.user, `${at}.user`);
  // A request refused at authentication is audited with `user: {}` (apiserver filters/authn_audit.go): such an
  // event, of all events, must not be refused, so the username is optional and the event then has no actor.
  const username = user.username === undefined ? '' : text(user, 'username', `${at}.user`, MAX.username, true);
  // `data` nests one level below the event; deeper is refused by the intake's depth check (limits.ts), so here.
  if (nestsDeeperThan(item, MAX_EVENT_DEPTH - 1)) {
    throw new Refusal(at, `nests deeper than ${MAX_EVENT_DEPTH - 1} levels (it is carried as the event's data)`);
  }

  const event: Record<string, unknown> = {
    specversion: '1.0',
    // One request is audited once per stage under one auditID (RequestReceived, then ResponseComplete...), so the
    // id names the stage: each stage is its own stored event, while a retried batch repeats the same ids and is
    // answered as duplicates. The stage's timestamp is in it too: a client may choose its request's auditID (the
    // Audit-ID header), and an earlier request's id must not swallow a later request's record as a "retry"; the
    // API server stamps stageTimestamp itself, to the microsecond, and a retry resends it unchanged.
    id: `${auditID}/${stage}/${stageTimestamp}`,
    source: K8S_AUDIT_SOURCE,
    type: K8S_AUDIT_TYPE,
    time: stageTimestamp,
    verb,
  };
  if (username !== '') {
    event.actor = {
      id: username,
      object_type: username.startsWith('system:serviceaccount:') ? 'serviceaccount' : 'user',
    };
  }
  if (item.objectRef !== undefined) {
    const ref = objectRef(item.objectRef, `${at}.objectRef`);
    if (ref !== undefined) {
      event.subject = ref.path;
      event.object = {
        id: ref.uid ?? ref.path,
        object_type: ref.resource,
        ...(ref.name !== undefined && { display_name: ref.name }),
      };
    }
  }
  event.data = item;
  return event;
}

interface ObjectRef {
  resource: string;
  name?: string;
  uid?: string;
  /** The object's REST path: `/api/v1/namespaces/default/pods/web-0`, `/apis/apps/v1/namespaces/x/deployments`. */
  path: string;
}

/** The reference, or undefined when it names no resource (it then gives no subject and no object). */
function objectRef(value: unknown, at: string): ObjectRef | undefined {
  const ref = object(value, at);
  const opt = (key: keyof typeof MAX): string | undefined =>
    ref[key] === undefined || ref[key] === '' ? undefined : text(ref, key, at, MAX[key]);
  const resource = opt('resource');
  const namespace = opt('namespace');
  const name = opt('name');
  const subresource = opt('subresource');
  const apiGroup = opt('apiGroup');
  const apiVersion = opt('apiVersion');
  const uid = opt('uid');
  if (resource === undefined) return undefined;
  let path = apiGroup === undefined ? '/api' : `/apis/${apiGroup}`;
  if (apiVersion !== undefined) path += `/${apiVersion}`;
  if (namespace !== undefined) path += `/namespaces/${namespace}`;
  path += `/${resource}`;
  if (name !== undefined) path += `/${name}`;
  if (subresource !== undefined) path += `/${subresource}`;
  return { resource, path, ...(name !== undefined && { name }), ...(uid !== undefined && { uid }) };
}

function object(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Refusal(at, at === '' ? 'expected a JSON object (an audit.k8s.io/v1 EventList)' : 'expected an object');
  }
  return value as Record<string, unknown>;
}

function literal(obj: Record<string, unknown>, key: string, want: string, at: string): void {
  if (obj[key] !== want) {
    throw new Refusal(join(at, key), `expected ${JSON.stringify(want)}, got ${describe(obj[key])}`);
  }
}

/** A required non-empty string of at most `max` characters (`allowEmpty`: present but possibly empty). */
function text(obj: Record<string, unknown>, key: string, at: string, max: number, allowEmpty = false): string {
  const v = obj[key];
  const field = join(at, key);
  if (v === undefined) throw new Refusal(field, 'is required');
  if (typeof v !== 'string') throw new Refusal(field, `expected a string, got ${describe(v)}`);
  if (v === '' && !allowEmpty) throw new Refusal(field, 'must not be empty');
  if (v.length > max) throw new Refusal(field, `is ${v.length} characters long, more than ${max}`);
  return v;
}

const join = (at: string, key: string): string => (at === '' ? key : `${at}.${key}`);

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return v.length > 64 ? `a ${v.length}-character string` : JSON.stringify(v);
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : typeof v;
}
