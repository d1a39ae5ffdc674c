// The one table of `-ERR` texts the broker sends, with nats-server's exact wording and whether the connection is
// closed after it. Clients classify errors by substring, so these strings are API (nats-server server/errors.go,
// client.go sendErr calls; observed from nats-server 2.9.10, see shared/NATS-NOTES.md).

export interface ProtocolError {
  /** Text inside the quotes of `-ERR '...'`. */
  readonly text: string;
  /** True when nats-server closes the connection after sending it. */
  readonly closes: boolean;
  /** True when nats-server closes without sending any `-ERR` (malformed arguments it cannot parse). */
  readonly silent?: boolean;
  /** Why the connection closed, for logs and /connz; set only when `closes`. */
  readonly closeReason?: CloseReason;
}

/** Every way a connection ends; logs and monitoring use the same names. */
export type CloseReason =
  | 'Client Closed'
  | 'Server Shutdown'
  | 'Parse Error'
  | 'Protocol Violation'
  | 'Authentication Failure'
  | 'Authentication Timeout'
  | 'Authentication Expired'
  | 'Maximum Connections Exceeded'
  | 'Maximum Payload Exceeded'
  | 'Maximum Control Line Exceeded'
  | 'Slow Consumer (Pending Bytes)'
  | 'Slow Consumer (Write Deadline)'
  | 'Stale Connection'
  | 'TLS Handshake Error'
  | 'TLS Required'
  | 'Write Error'
  | 'Read Error'
  | 'Revocation'
  | 'Leafnode Closed';

function closing(text: string, closeReason: CloseReason): ProtocolError {
  return Object.freeze({ text, closes: true, closeReason });
}
function open(text: string): ProtocolError {
  return Object.freeze({ text, closes: false });
}

export const Errors = Object.freeze({
  /** Malformed arguments (missing, negative or non-numeric sizes, bad CONNECT JSON): closed without `-ERR`. */
  protocolViolation: Object.freeze({
    text: '',
    closes: true,
    silent: true,
    closeReason: 'Protocol Violation',
  }) as ProtocolError,
  unknownOp: closing('Unknown Protocol Operation', 'Parse Error'),
  maxControlLine: closing('maximum control line exceeded', 'Maximum Control Line Exceeded'),
  maxPayload: closing('Maximum Payload Violation', 'Maximum Payload Exceeded'),
  invalidSubject: open('Invalid Subject'),
  invalidPublishSubject: open('Invalid Publish Subject'),
  noRespondersNeedsHeaders: closing('no responders requires headers support', 'Protocol Violation'),
  authorizationViolation: closing('Authorization Violation', 'Authentication Failure'),
  authTimeout: closing('Authentication Timeout', 'Authentication Timeout'),
  authExpired: closing('User Authentication Expired', 'Authentication Expired'),
  // A live connection whose credential was revoked (nats-server accounts.go updateAccountClaimsWithRefresh: the
  // user JWT on the account's revocation list; sendErrAndDebug, then closeConnection(Revocation)).
  authRevoked: closing('User Authentication Revoked', 'Revocation'),
  maxConnections: closing('maximum connections exceeded', 'Maximum Connections Exceeded'),
  staleConnection: closing('Stale Connection', 'Stale Connection'),
  tlsRequired: closing('Secure Connection - TLS Required', 'TLS Required'),
  maxSubscriptions: open('maximum subscriptions exceeded'),
  invalidClientProtocol: closing('invalid client protocol', 'Protocol Violation'),
  // Leafnode port (nats-server 2.9.10, observed): a client CONNECT (it has `lang`), and our own loop-detection
  // subject coming back (leafnode.go handleLeafNodeLoop; one account, $G; the leaf waits 30s before redialling).
  leafnodeClientConnect: closing('attempted to connect to leaf node port', 'Protocol Violation'),
  leafnodeLoop: closing(
    'Loop detected for leafnode account="$G". Delaying attempt to reconnect for 30s',
    'Protocol Violation',
  ),
});

// nats-server 2.9 client.go pubPermissionViolation / subPermissionViolation: fmt.Sprintf with %q, so the subject
// and queue are Go-quoted.
export function permissionsViolationForPublish(subject: string): ProtocolError {
  return open(`Permissions Violation for Publish to ${goQuote(subject)}`);
}

export function permissionsViolationForSubscription(subject: string, queue?: string): ProtocolError {
  const q = queue ? ` using queue ${goQuote(queue)}` : '';
  return open(`Permissions Violation for Subscription to ${goQuote(subject)}${q}`);
}

// nats-server 2.9 client.go processSubsOnConfigReload: a subscription a configuration reload no longer permits is
// removed and the client told so, sid included (observed: `-ERR 'Permissions Violation for Subscription to "foo.x"
// (sid "1")'`); the connection stays open.
export function permissionsViolationForSubscriptionRemoved(subject: string, sid: string): ProtocolError {
  return open(`Permissions Violation for Subscription to ${goQuote(subject)} (sid ${goQuote(sid)})`);
}

const GO_ESCAPES: Readonly<Record<string, string>> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '"': '\\"',
  '\\': '\\\\',
};
// Go unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const GO_PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;

/**
 * A string as Go's %q (strconv.Quote) writes it: double quotes, backslash escapes, non-printable characters as
 * \xHH, \uHHHH or \UHHHHHHHH. Subjects are nearly always plain ASCII, for which this is just the quotes.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const esc = GO_ESCAPES[ch];
    if (esc !== undefined) out += esc;
    else if (GO_PRINTABLE.test(ch)) out += ch;
    else {
      const cp = ch.codePointAt(0)!;
      if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`;
      else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
      else out += `\\U${cp.toString(16).padStart(8, '0')}`;
    }
  }
  return `${out}"`;
}

/** The wire form: `-ERR 'text'\r\n`. */
export function errLine(err: ProtocolError): string {
  return `-ERR '${err.text}'\r\n`;
}
