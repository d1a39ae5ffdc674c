// The subjects no permission grant reaches as it would another (permissions.ts applies these rules): the gateway's
// own (`_GWH`, `$EVENTS.CREDIT`), and the reply subjects (`_INBOX…`) outside a client's private inbox grant.
import { CREDIT_SUBJECT_ROOT } from '@event-broker/shared';
import { HEALTH_INBOX_ROOT } from './health.js';

// --- Gateway subjects ------------------------------------------------------------------------------------------
//
// `_GWH.…` carries the gateway's own traffic: its health probe's replies (health.ts) and the service's answers to
// its credit requests (credit-channel.ts). A client granted `>` (or `_GWH.>`) could read them and, with a broad
// publish grant, answer for the service so /healthz says "ok" for a service that is gone, or grant itself credit.
// `$EVENTS.CREDIT.…` is where the gateway asks the service for credit in the name of its link (shared
// server/credit.ts): a client publishing there would take or give back room under event_limit and listener_limit
// for every client of the gateway, and one reading there would learn the credit inbox. So no grant reaches them: a
// subscription whose first token is `_GWH` (or under `$EVENTS.CREDIT`) is refused, a message on one is not
// delivered to a wildcard subscription, and a publish there is refused (a reply grant included). So nats-server
// keeps its own traffic in the system account, "so that subscriptions from your applications, say `>`, do not
// receive system events" (NATS docs, System Events). Behind a first-character test (mayBeGatewaySubject), as the
// inbox rule below: other subjects pay one or two comparisons.

const GATEWAY_ROOT_DOT = `${HEALTH_INBOX_ROOT}.`;
const CREDIT_ROOT_DOT = `${CREDIT_SUBJECT_ROOT}.`;
/** `$`, the first character of the credit subjects. */
const DOLLAR = 0x24;

export function isGatewaySubject(subject: string): boolean {
  return (
    subject.startsWith(GATEWAY_ROOT_DOT) ||
    subject === HEALTH_INBOX_ROOT ||
    subject.startsWith(CREDIT_ROOT_DOT) ||
    subject === CREDIT_SUBJECT_ROOT
  );
}

/** Whether `subject` may be a gateway or reply subject at all: its first character is `_` or `$`. */
export function mayBeGatewaySubject(subject: string): boolean {
  const c = subject.charCodeAt(0);
  return c === UNDERSCORE || c === DOLLAR;
}

// --- Reply subjects -------------------------------------------------------------------------------------------
//
// The official clients take replies on `_INBOX.<random>.…` unless given another prefix (nats.js `inboxPrefix`,
// nats.go CustomInboxPrefix). nats-server lets any grant that covers `_INBOX.>` (the grant itself, `>`, no allow
// list) read every client's replies; behind the gateway that is every internal service's replies too (the link
// carries up the interest). So reply subjects are reachable only through a private prefix: an allow entry whose
// second token is literal (`_INBOX.alice.>`, what dev/mint-token.mjs writes). Broader grants keep the rest of what
// they allow, minus the inboxes: their subscriptions on `_INBOX…` are refused and messages on `_INBOX…` are not
// delivered to their wildcard subscriptions.

const INBOX = '_INBOX';
/** `_`, the first character of both kinds: tested first, so other subjects pay one comparison. */
export const UNDERSCORE = 0x5f;

export function isInboxSubject(subject: string): boolean {
  return subject.startsWith('_INBOX.') || subject === INBOX;
}

/** `_INBOX.<literal>…`: one client's prefix. */
export function isInboxGrant(subject: string): boolean {
  const t = subject.split('.');
  return t[0] === INBOX && t.length >= 2 && t[1] !== '*' && t[1] !== '>';
}

/** `_INBOX.>`, `_INBOX.*…`: an entry reaching where every client's id goes (the grant the README used to teach). */
export function isBroadInboxEntry(subject: string): boolean {
  const t = subject.split('.');
  return t[0] === INBOX && (t[1] === '*' || t[1] === '>');
}

/** `_INBOX.alice.>` as the prefix `_INBOX.alice.`, for a delivery check without a sublist match. */
export function grantPrefix(subject: string): string | undefined {
  if (!subject.endsWith('.>')) return undefined;
  const head = subject.slice(0, -1);
  return head.includes('*') || head.includes('>') ? undefined : head;
}
