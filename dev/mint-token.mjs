#!/usr/bin/env node
// Prints a dev JWT for the gateway, signed with certs/jwt-signing-key.pem (made on first use), carrying NATS
// user-JWT style permissions, with a private inbox grant (`_INBOX.<sub>.>`) the client takes its replies through.
// For local testing only: the dev key is not a secret anyone should trust.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDevCerts } from './certs.mjs';
import { CERTS_DIR, loadDevTools, loadShared } from './shared.mjs';

const USAGE = `usage: node dev/mint-token.mjs --sub NAME [options]

Prints a JWT (ES256, iss/aud "event-broker-dev") signed with the dev key in certs/.

  --sub NAME          the token's subject (who the client is); required
  --pub LIST          subjects it may publish to, comma-separated ('orders.>,audit.created')
  --pub-deny LIST     subjects it may not publish to
  --sub-allow LIST    subjects it may subscribe to
  --sub-deny LIST     subjects it may not subscribe to
  --resp MAX[,TTL]    may reply to requests it receives: MAX replies to each, within TTL of its delivery
                      (e.g. 1 or 3,5s). As in nats-server, MAX 0 means 1 and TTL omitted or 0 means 2m;
                      without --pub the token may then publish only those replies
  --inbox PREFIX      the client's private reply prefix (default _INBOX.<sub>): PREFIX.> is added to the
                      subscribe allow list; the client connects with it as its inbox prefix (nats.js
                      inboxPrefix, nats.go CustomInboxPrefix). 'none': no replies (no request/reply)
  --subs N            most subscriptions the client may hold (nats.subs); --subs=-1: no limit of its own
  --payload BYTES     largest message it may publish, headers included (nats.payload); --payload=-1 likewise
  --data BYTES        nats.data, written for NATS user-JWT tools; NOT enforced (nor by nats-server)
  --ttl DURATION      lifetime: 90s, 15m, 1h (default), 7d
  --certs DIR         where the dev key lives (default certs/)
  --help              this text

An omitted allow list allows every subject, as in a NATS user JWT (except --pub with --resp, above), but never
another client's replies: the gateway delivers replies (_INBOX...) only inside a token's own inbox prefix, so
--sub-allow takes no _INBOX entry (_INBOX.> would be every client's replies). Without --subs or --payload the
gateway's [gateway] default_max_subscriptions / default_max_payload apply; a token's limits never raise the
gateway's max_subscriptions / max_payload. 0 means none: no subscription, no payload but an empty one. Example:
  node dev/mint-token.mjs --sub alice --pub 'orders.>' --sub-allow 'orders.>' --ttl 15m
  (then connect with inboxPrefix: '_INBOX.alice')`;

const UNITS_S = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90s" / "15m" / "1h" / "7d" (or bare seconds) to seconds. */
function parseDuration(flag, text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) fail(`${flag}: not a duration: ${text} (use e.g. 90s, 15m, 1h, 7d)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : n * UNITS_S[m[2] ?? 's'];
}

/** A nats-io/jwt NatsLimits value: -1 (no limit) or a whole number. */
function limit(flag, text) {
  if (text === undefined) return undefined;
  if (!/^(-1|\d+)$/.test(text.trim()))
    fail(`${flag}: must be -1 (no limit) or a whole number, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) fail(`${flag}: too large: ${text}`);
  return n;
}

function list(flag, text) {
  if (text === undefined) return undefined;
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) fail(`${flag}: empty list`);
  for (const s of items) if (/\s/.test(s)) fail(`${flag}: subject contains whitespace: ${JSON.stringify(s)}`);
  return items;
}

function fail(message) {
  console.error(`mint-token: ${message}\n\n${USAGE}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      sub: { type: 'string' },
      pub: { type: 'string' },
      'pub-deny': { type: 'string' },
      'sub-allow': { type: 'string' },
      'sub-deny': { type: 'string' },
      resp: { type: 'string' },
      inbox: { type: 'string' },
      subs: { type: 'string' },
      payload: { type: 'string' },
      data: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      certs: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (err) {
  fail(err.message);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!args.sub) fail('--sub is required');

/** { allow, deny } with only the lists given, or undefined when neither is. */
function permission(allow, deny) {
  if (allow === undefined && deny === undefined) return undefined;
  return { ...(allow && { allow }), ...(deny && { deny }) };
}

// A subject token as nats-server reads one: no separators, wildcards or whitespace.
const TOKEN = /^[^.*>\s]+$/;

/**
 * The reply prefix (`_INBOX.alice`), or undefined for --inbox none. Under `_INBOX.`, the namespace the gateway keeps
 * private: a prefix outside it (`_INBOX_alice`) would be readable by any token granting `>`.
 */
function inboxPrefix() {
  const given = args.inbox;
  if (given === 'none') return undefined;
  if (given === undefined) {
    if (!TOKEN.test(args.sub))
      fail(
        `--sub ${JSON.stringify(args.sub)} cannot name an inbox (it is not one subject token): give --inbox _INBOX.<id>`,
      );
    return `_INBOX.${args.sub}`;
  }
  const t = given.split('.');
  if (t[0] !== '_INBOX' || t.length < 2 || !t.slice(1).every((x) => TOKEN.test(x))) {
    fail(`--inbox must be _INBOX.<id> (literal tokens, no wildcards), got ${JSON.stringify(given)}`);
  }
  return given;
}

/** --sub-allow entries naming replies: inbox grants come from --inbox only, one per token. */
function checkNoInboxEntries(entries) {
  for (const e of entries ?? []) {
    const [first, second] = e.split('.');
    if (first !== '_INBOX') continue;
    if (second === undefined || second === '*' || second === '>') {
      fail(
        `--sub-allow: ${JSON.stringify(e)} would grant every client's replies (the gateway honours no such entry); the token's own inbox comes from --inbox`,
      );
    }
    fail(
      `--sub-allow: ${JSON.stringify(e)}: inbox grants are written from --inbox (default _INBOX.<sub>), one per token`,
    );
  }
}

const nats = {};
const inbox = inboxPrefix();
const subAllow = list('--sub-allow', args['sub-allow']);
checkNoInboxEntries(subAllow);
// With no --sub-allow the token may subscribe to everything (`>`), its own replies included.
const withInbox = inbox === undefined ? subAllow : [...(subAllow ?? ['>']), `${inbox}.>`];
const pub = permission(list('--pub', args.pub), list('--pub-deny', args['pub-deny']));
const sub = permission(withInbox, list('--sub-deny', args['sub-deny']));
if (pub) nats.pub = pub;
if (sub) nats.sub = sub;
if (args.resp !== undefined) {
  const [max, ttl] = args.resp.split(',');
  if (!/^\d+$/.test(max ?? '')) fail(`--resp: MAX must be a whole number, got ${JSON.stringify(max)}`);
  // nats-io/jwt ResponsePermission: ttl is a Go time.Duration, i.e. nanoseconds. 0 is not "no limit": the gateway,
  // like nats-server (auth.go validateResponsePermissions), reads max 0 as 1 reply and ttl 0 as 2 minutes
  // (packages/event-gateway/src/permissions.ts parseResponse); only negative values lift a limit.
  nats.resp = { max: Number(max), ttl: ttl === undefined ? 0 : Math.round(parseDuration('--resp', ttl) * 1e9) };
}

for (const name of ['subs', 'payload', 'data']) {
  const n = limit(`--${name}`, args[name]);
  if (n !== undefined) nats[name] = n;
}

const dir = args.certs === undefined ? CERTS_DIR : path.resolve(args.certs);
await ensureDevCerts({ dir, log: (line) => console.error(line) }); // stdout carries only the token
const { DEV_PKI_FILES, mintDevToken } = await loadDevTools();
const { keyFileExposure } = await loadShared();
const keyFile = path.join(dir, DEV_PKI_FILES.jwt.privateKey);
// Whoever reads the signing key mints tokens the gateway accepts (shared tls.ts: the processes warn the same way).
const open = keyFileExposure('jwt signing key', keyFile);
if (open !== undefined)
  console.error(`mint-token: warning: ${keyFile} is open to other users (mode ${open.mode}); chmod 600 it`);
const key = fs.readFileSync(keyFile, 'utf8');
const token = await mintDevToken(key, { sub: args.sub, nats }, { ttlSeconds: parseDuration('--ttl', args.ttl) });
console.log(token);
if (inbox !== undefined) {
  console.error(
    `mint-token: replies to ${args.sub} go to ${inbox}.>: connect with inboxPrefix '${inbox}' (nats.js), nats.CustomInboxPrefix("${inbox}") (nats.go)`,
  );
}
