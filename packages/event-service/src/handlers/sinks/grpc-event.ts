// A stored event (CloudEvents structured JSON, shared events/envelope.ts) as the CloudEvents protobuf format's
// CloudEvent message (cloudevents/spec formats/protobuf-format.md; the shipped proto/io/cloudevents/v1): what a
// grpc:// sink sends. How it is sent is grpc-transport.ts's.
//
// id, source, specversion and type are the message's own fields; every other attribute goes in `attributes`, typed:
// time as a Timestamp (to the nanosecond), dataschema as a URI, strings, booleans, and integers that fit int32 as
// themselves. Protobuf attribute values are scalars, so the product's object- and array-valued extensions (producer,
// actor, object, target, tags, projects) and numbers that are not int32 travel as their JSON text in ce_string.
// `data` goes as text_data (JSON data as its JSON text, a string under a non-JSON datacontenttype as itself),
// `data_base64` as binary_data; datacontenttype is set to application/json when the event had JSON data and none.

/** A CloudEventAttributeValue: one of the oneof's members. */
export type AttributeValue =
  | { ce_boolean: boolean }
  | { ce_integer: number }
  | { ce_string: string }
  | { ce_bytes: Buffer }
  | { ce_uri: string }
  | { ce_uri_ref: string }
  | { ce_timestamp: { seconds: number; nanos: number } };

/** The CloudEvent message as the proto loader (keepCase) encodes it. */
export interface ProtoCloudEvent {
  id: string;
  source: string;
  spec_version: string;
  type: string;
  attributes: Record<string, AttributeValue>;
  text_data?: string;
  binary_data?: Buffer;
}

/** Attributes carried in the message's own fields or as its data, never in `attributes`. */
const OWN_FIELDS = new Set(['id', 'source', 'specversion', 'type', 'data', 'data_base64']);
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** JSON media types (RFC 6839 +json suffix too), which is how structured JSON's `data` is read. */
const JSON_MEDIA = /^(application|text)\/([^;\s]*\+)?json\s*(;|$)/i;
const FRACTION = /\.(\d+)/;

/** The CloudEvent message for a stored event's JSON; throws when the body is not a JSON object. */
export function toProtoEvent(body: string): ProtoCloudEvent {
  const ev = JSON.parse(body) as unknown;
  if (typeof ev !== 'object' || ev === null || Array.isArray(ev)) throw new TypeError('the event is not a JSON object');
  const e = ev as Record<string, unknown>;
  const out: ProtoCloudEvent = {
    id: String(e.id ?? ''),
    source: String(e.source ?? ''),
    spec_version: String(e.specversion ?? ''),
    type: String(e.type ?? ''),
    attributes: {},
  };
  for (const [name, value] of Object.entries(e)) {
    if (OWN_FIELDS.has(name) || value === undefined || value === null) continue;
    out.attributes[name] = attributeValue(name, value);
  }
  if (typeof e.data_base64 === 'string') out.binary_data = Buffer.from(e.data_base64, 'base64');
  else if (e.data !== undefined) {
    const media = typeof e.datacontenttype === 'string' ? e.datacontenttype : undefined;
    if (media === undefined) out.attributes.datacontenttype = { ce_string: 'application/json' };
    const json = media === undefined || JSON_MEDIA.test(media);
    out.text_data = !json && typeof e.data === 'string' ? e.data : JSON.stringify(e.data);
  }
  return out;
}

function attributeValue(name: string, value: unknown): AttributeValue {
  if (name === 'time' && typeof value === 'string') {
    const ts = timestamp(value);
    if (ts !== undefined) return { ce_timestamp: ts };
  }
  if (name === 'dataschema' && typeof value === 'string') return { ce_uri: value };
  if (typeof value === 'string') return { ce_string: value };
  if (typeof value === 'boolean') return { ce_boolean: value };
  if (typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX)
    return { ce_integer: value };
  return { ce_string: JSON.stringify(value) };
}

/** An RFC 3339 time as a protobuf Timestamp, its fraction kept to the nanosecond; undefined if unreadable. */
export function timestamp(rfc3339: string): { seconds: number; nanos: number } | undefined {
  const fraction = FRACTION.exec(rfc3339)?.[1] ?? '';
  const ms = Date.parse(rfc3339.replace(FRACTION, ''));
  if (Number.isNaN(ms)) return undefined;
  return { seconds: Math.floor(ms / 1000), nanos: Number(fraction.slice(0, 9).padEnd(9, '0') || 0) };
}
