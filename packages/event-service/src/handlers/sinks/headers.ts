// The request headers a [handlers] entry may add: which the sink owns, and what a name and a value must be to go
// out as given. sink-config.ts refuses the rest when the file is read; webhook.ts checks again when a sink is made
// (an embedding program may skip the config). Here, apart from both, so the config does not import the sink.

const HOP_BY_HOP = "hop-by-hop (RFC 9110 section 7.6.1): the sink's kept-alive connection is its own to manage";
const SET_PER_DELIVERY = 'set by the sink for each delivery (Standard Webhooks); configure `secret` to sign';

/**
 * Headers the sink sets itself, or that break every delivery when configured, with why. Node sends most of them
 * as given; the receiver then refuses the request (transfer-encoding beside content-length is a 400 from Node's
 * own server), cannot read its body, or is addressed one way and reached another.
 */
export const SINK_OWNED_HEADERS: Readonly<Record<string, string>> = {
  'content-length': 'set by the sink from each body',
  'transfer-encoding':
    'the sink sends a content-length; with both, receivers refuse the request (RFC 9112 section 6.3)',
  'content-encoding': 'the sink sends the body unencoded: a receiver that decodes it as said would fail',
  host: 'set from url; another Host names one server while the request goes to another (and over https the certificate is checked against it): put the name in url',
  expect: 'the sink sends each body with its request, never waiting for a 100-continue (its HTTP client refuses it)',
  trailer: 'Node refuses to send it with a content-length: every delivery would fail',
  connection: HOP_BY_HOP,
  'keep-alive': HOP_BY_HOP,
  'proxy-connection': HOP_BY_HOP,
  te: HOP_BY_HOP,
  upgrade: HOP_BY_HOP,
  'webhook-id': SET_PER_DELIVERY,
  'webhook-timestamp': SET_PER_DELIVERY,
  'webhook-signature': SET_PER_DELIVERY,
};

// RFC 9110 section 5.1: a field name is a token, section 5.6.2: tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Why a configured header cannot go out as given, or undefined when it can. Values are checked as RFC 9110
 * section 5.5 field values restricted to ASCII: visible characters, space and tab. Node refuses CR, LF, NUL and
 * the other controls (ERR_INVALID_CHAR, which would dead-letter every event as unreachable) and sends non-ASCII
 * text in a form receivers read differently. The reason names the offset, never the value (it may be a credential).
 */
export function headerProblem(name: string, value: string): string | undefined {
  if (!TOKEN.test(name)) return "not a valid header name: letters, digits and !#$%&'*+-.^_`|~ only (an RFC 9110 token)";
  const owned = SINK_OWNED_HEADERS[name.toLowerCase()];
  if (owned !== undefined) return owned;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) continue;
    if (c === 0x09) continue;
    const which =
      c === 0x0d
        ? 'a CR (carriage return)'
        : c === 0x0a
          ? 'an LF (line feed)'
          : c === 0
            ? 'a NUL'
            : c < 0x80
              ? `a control character (U+${c.toString(16).toUpperCase().padStart(4, '0')})`
              : undefined;
    if (which !== undefined)
      return `the value contains ${which} at offset ${i}: a header value is one line of visible ASCII, spaces and tabs`;
    return `the value contains a non-ASCII character at offset ${i}: header values are sent as ASCII (RFC 9110 section 5.5); percent- or base64-encode it`;
  }
  return undefined;
}

/** gRPC metadata keys (grpc-js: lower-case letters, digits, `_`, `.`, `-`) and its printable-ASCII values. */
const METADATA_KEY = /^[0-9a-z_.-]+$/;
const METADATA_VALUE = /^[ -~]*$/;
/** Metadata grpc-js sets on every call itself: a configured one would be overwritten or clash. */
const GRPC_OWNED = new Set(['content-type', 'te', 'user-agent', 'authority']);

/**
 * Why a configured header cannot go as a gRPC sink's call metadata, beyond headerProblem's HTTP rules, or undefined.
 * grpc-js throws on these when the call is made (and its error quotes the value): refused when the sink is read.
 */
export function grpcMetadataProblem(name: string, value: string): string | undefined {
  const key = name.toLowerCase();
  if (!METADATA_KEY.test(key)) return 'not a gRPC metadata key: letters, digits, "_", "." and "-" only';
  if (key.endsWith('-bin')) return 'a "-bin" metadata key carries bytes, which a header value cannot give';
  if (key.startsWith('grpc-')) return '"grpc-" metadata is the gRPC protocol\'s own';
  if (GRPC_OWNED.has(key)) return 'set by gRPC on every call';
  const bad = value.search(/[^ -~]/);
  if (!METADATA_VALUE.test(value))
    return `the value contains a character other than printable ASCII at offset ${bad}: gRPC metadata values are printable ASCII and spaces`;
  return undefined;
}
