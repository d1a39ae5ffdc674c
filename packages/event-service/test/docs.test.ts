// The README's "Error codes" section against the code's tables, both ways (after fastify's
// test/internals/errors.test.js): a code added without documentation, or documented and gone, fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  CONFIG_ERROR_CODES,
  Errors,
  TLS_ERROR_CODES,
  UPLINK_ERROR_CODES,
  permissionsViolationForPublish,
  permissionsViolationForSubscription,
  permissionsViolationForSubscriptionRemoved,
  type ProtocolError,
} from '@event-broker/shared';
import {
  DEADLETTER_ERROR_CODES,
  EVENT_REPLY_ERROR_CODES,
  EVENT_SERVICE_ERROR_CODES,
  EVENT_STORE_ERROR_CODES,
  FEED_ERROR_CODES,
  type EventReplyErrorCode,
  type EventServiceErrorCode,
  type EventStoreErrorCode,
} from '../src/error-codes.js';
import type { EventServiceError } from '../src/embedded.js';
import type { IntakeErrorCode } from '../src/handlers/intake.js';
import type { EventStoreError } from '../src/handlers/store-file.js';

// Compile-time: the class's `code` is exactly the listed codes, both ways.
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const classUsesTheList: Exactly<EventServiceError['code'], EventServiceErrorCode> = true;
const storeErrorUsesTheList: Exactly<EventStoreError['code'], EventStoreErrorCode> = true;
const intakeUsesTheList: Exactly<IntakeErrorCode, EventReplyErrorCode> = true;
void classUsesTheList;
void storeErrorUsesTheList;
void intakeUsesTheList;

/** dist/test/docs.test.js → the repository root's README.md. */
const README = fileURLToPath(new URL('../../../../README.md', import.meta.url));

interface Row {
  cells: string[];
  line: number;
}

/** The "### <title>" subsections of "## Error codes", each with its table rows (header and rule left out). */
function errorCodeSections(): Map<string, Row[]> {
  const lines = fs.readFileSync(README, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.trim() === '## Error codes');
  assert.ok(start >= 0, `README.md has no "## Error codes" section`);
  const sections = new Map<string, Row[]>();
  let current: Row[] | undefined;
  let header = true;
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith('## ')) break;
    if (l.startsWith('### ')) {
      current = [];
      header = true;
      sections.set(l.slice(4).trim(), current);
      continue;
    }
    if (current === undefined || !l.startsWith('|')) continue;
    if (header) {
      header = false; // the column names
      continue;
    }
    if (/^\|[\s|:-]+\|$/.test(l)) continue; // the |---| rule
    current.push({ cells: l.slice(1, -1).split('|').map((c) => c.trim()), line: i + 1 });
  }
  return sections;
}

function section(titlePart: string): Row[] {
  const all = errorCodeSections();
  const found = [...all.entries()].filter(([title]) => title.includes(titlePart));
  assert.equal(found.length, 1, `one "### ...${titlePart}..." subsection under "## Error codes"; found: ${[...all.keys()].join(', ')}`);
  const rows = found[0]![1];
  assert.ok(rows.length > 0, `the ${titlePart} table has rows`);
  return rows;
}

/** `| \`CODE\` | meaning |` rows as code → meaning; a row that is not that shape, or a repeated code, fails. */
function codeTable(titlePart: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const { cells, line } of section(titlePart)) {
    const m = /^`([^`]+)`$/.exec(cells[0] ?? '');
    assert.ok(m && cells.length === 2, `README.md:${line}: expected | \`CODE\` | meaning |, got | ${cells.join(' | ')} |`);
    assert.ok(!out.has(m[1]!), `README.md:${line}: ${m[1]} listed twice`);
    assert.ok(cells[1]!.length > 0, `README.md:${line}: ${m[1]} has no meaning`);
    out.set(m[1]!, cells[1]!);
  }
  return out;
}

function assertSameKeys(documented: Iterable<string>, coded: Iterable<string>, where: string): void {
  const doc = new Set(documented);
  const code = new Set(coded);
  const undocumented = [...code].filter((c) => !doc.has(c));
  const stale = [...doc].filter((c) => !code.has(c));
  assert.deepEqual({ undocumented, stale }, { undocumented: [], stale: [] }, `README "${where}" and the code disagree`);
}

test('the README lists every configuration error code with its meaning from CONFIG_ERROR_CODES, and no other', () => {
  const doc = codeTable('`ConfigError`');
  assertSameKeys(doc.keys(), Object.keys(CONFIG_ERROR_CODES), 'ConfigError');
  for (const [code, meaning] of Object.entries(CONFIG_ERROR_CODES)) assert.equal(doc.get(code), meaning, code);
});

test('the README lists every uplink error code with its meaning from UPLINK_ERROR_CODES, and no other', () => {
  const doc = codeTable('`UplinkError`');
  assertSameKeys(doc.keys(), Object.keys(UPLINK_ERROR_CODES), 'UplinkError');
  for (const [code, meaning] of Object.entries(UPLINK_ERROR_CODES)) assert.equal(doc.get(code), meaning, code);
});

test('the README lists every TLS error code with its meaning from TLS_ERROR_CODES, and no other', () => {
  const doc = codeTable('`TlsConfigError`');
  assertSameKeys(doc.keys(), Object.keys(TLS_ERROR_CODES), 'TlsConfigError');
  for (const [code, meaning] of Object.entries(TLS_ERROR_CODES)) assert.equal(doc.get(code), meaning, code);
});

test('the README lists every embedded API error code, and no other', () => {
  assertSameKeys(codeTable('`EventServiceError`').keys(), EVENT_SERVICE_ERROR_CODES, 'EventServiceError');
});

test('the README lists every event store error code with its meaning from EVENT_STORE_ERROR_CODES, and no other', () => {
  const doc = codeTable('`EventStoreError`');
  assertSameKeys(doc.keys(), Object.keys(EVENT_STORE_ERROR_CODES), 'EventStoreError');
  for (const [code, meaning] of Object.entries(EVENT_STORE_ERROR_CODES)) assert.equal(doc.get(code), meaning, code);
});

test('the README lists every events.<type> reply error code with its meaning from EVENT_REPLY_ERROR_CODES, and no other', () => {
  const doc = codeTable('`events.<type>` replies');
  assertSameKeys(doc.keys(), Object.keys(EVENT_REPLY_ERROR_CODES), 'events.<type> replies');
  for (const [code, meaning] of Object.entries(EVENT_REPLY_ERROR_CODES)) assert.equal(doc.get(code), meaning, code);
});

test('the README lists every event feed error code with its meaning from FEED_ERROR_CODES, and no other', () => {
  const doc = codeTable('`$EVENTS.FEED.QUERY`');
  assertSameKeys(doc.keys(), Object.keys(FEED_ERROR_CODES), 'event feed');
  for (const [code, meaning] of Object.entries(FEED_ERROR_CODES)) assert.equal(doc.get(code), meaning, code);
});

test('the README lists every dead-letter API error code with its meaning from DEADLETTER_ERROR_CODES, and no other', () => {
  const doc = codeTable('`/deadletters`');
  assertSameKeys(doc.keys(), Object.keys(DEADLETTER_ERROR_CODES), 'dead letters');
  for (const [code, meaning] of Object.entries(DEADLETTER_ERROR_CODES)) assert.equal(doc.get(code), meaning, code);
});

/** The silent close is documented as "nothing" sent. */
const SILENT = 'nothing';

test('the README -ERR table has every text in protocol/errors.ts with whether it closes, and no other', () => {
  const coded: ProtocolError[] = [
    ...Object.values(Errors),
    // The parametrised texts, with the placeholders the README shows.
    permissionsViolationForPublish('<subject>'),
    permissionsViolationForSubscription('<subject>'),
    permissionsViolationForSubscription('<subject>', '<queue>'),
    permissionsViolationForSubscriptionRemoved('<subject>', '<sid>'),
  ];
  const codeCloses = new Map<string, boolean>();
  for (const e of coded) codeCloses.set(e.silent ? SILENT : `-ERR '${e.text}'`, e.closes);

  const docCloses = new Map<string, boolean>();
  for (const { cells, line } of section('`-ERR`')) {
    const sent = /^`(-ERR '.*')`$/.exec(cells[0] ?? '')?.[1] ?? (cells[0] === SILENT ? SILENT : undefined);
    assert.ok(sent !== undefined && cells.length === 3, `README.md:${line}: expected | \`-ERR '...'\` or nothing | yes/no | when |`);
    assert.ok(cells[1] === 'yes' || cells[1] === 'no', `README.md:${line}: closes must be yes or no, got ${cells[1]}`);
    assert.ok(!docCloses.has(sent), `README.md:${line}: ${sent} listed twice`);
    assert.ok(cells[2]!.length > 0, `README.md:${line}: ${sent} says not when`);
    docCloses.set(sent, cells[1] === 'yes');
  }
  assertSameKeys(docCloses.keys(), codeCloses.keys(), '-ERR');
  for (const [sent, closes] of codeCloses) assert.equal(docCloses.get(sent), closes, `${sent}: closes`);
});
