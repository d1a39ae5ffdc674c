// The README's "Error codes" section against the code's tables, both ways (after fastify's
// test/internals/errors.test.js): a code added without documentation, or documented and gone, fails here; so does a
// table without its README subsection (or a subsection without its table), a code the README names anywhere that no
// table has, and a wire code written as a bare string in the service's source instead of through its table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as shared from '@event-broker/shared';
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
import * as serviceCodes from '../src/error-codes.js';
import {
  DEADLETTER_ERROR_CODES,
  EVENT_REPLY_ERROR_CODES,
  EVENT_SERVICE_ERROR_CODES,
  EVENT_STORE_ERROR_CODES,
  FEED_ERROR_CODES,
  INTAKE_HTTP_ERROR_CODES,
  type EventReplyErrorCode,
  type EventServiceErrorCode,
  type EventStoreErrorCode,
} from '../src/error-codes.js';
import type { EventServiceError } from '../src/embedded.js';
import * as jetstreamCodes from '../src/handlers/jetstream/connection.js';
import { JETSTREAM_STORE_ERROR_CODES, type JetStreamStoreError } from '../src/handlers/jetstream/connection.js';
import type { IntakeErrorCode } from '../src/handlers/intake.js';
import type { EventStoreError } from '../src/handlers/store-file.js';

// Compile-time: the class's `code` is exactly the listed codes, both ways.
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const classUsesTheList: Exactly<EventServiceError['code'], EventServiceErrorCode> = true;
const storeErrorUsesTheList: Exactly<EventStoreError['code'], EventStoreErrorCode> = true;
const intakeUsesTheList: Exactly<IntakeErrorCode, EventReplyErrorCode> = true;
const jetStreamErrorUsesTheList: Exactly<JetStreamStoreError['code'], keyof typeof JETSTREAM_STORE_ERROR_CODES> = true;
void jetStreamErrorUsesTheList;
void classUsesTheList;
void storeErrorUsesTheList;
void intakeUsesTheList;

/** dist/test/docs.test.js → the repository root's README.md, and this package's sources. */
const README = fileURLToPath(new URL('../../../../README.md', import.meta.url));
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

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
    current.push({
      cells: l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
      line: i + 1,
    });
  }
  return sections;
}

function section(titlePart: string): Row[] {
  const all = errorCodeSections();
  const found = [...all.entries()].filter(([title]) => title.includes(titlePart));
  assert.equal(
    found.length,
    1,
    `one "### ...${titlePart}..." subsection under "## Error codes"; found: ${[...all.keys()].join(', ')}`,
  );
  const rows = found[0]![1];
  assert.ok(rows.length > 0, `the ${titlePart} table has rows`);
  return rows;
}

/** `| \`CODE\` | meaning |` rows as code → meaning; a row that is not that shape, or a repeated code, fails. */
function codeTable(titlePart: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const { cells, line } of section(titlePart)) {
    const m = /^`([^`]+)`$/.exec(cells[0] ?? '');
    assert.ok(
      m && cells.length === 2,
      `README.md:${line}: expected | \`CODE\` | meaning |, got | ${cells.join(' | ')} |`,
    );
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

/** A table of codes: its name where it is exported, its README subsection, and the codes (with meanings, but one). */
interface CodeTable {
  name: string;
  title: string;
  codes: Readonly<Record<string, string>> | readonly string[];
}

/** Every code table the packages export, each with the "### ..." subsection (a part of its title) that lists it. */
const TABLES: readonly CodeTable[] = [
  { name: 'CONFIG_ERROR_CODES', title: '`ConfigError`', codes: CONFIG_ERROR_CODES },
  { name: 'UPLINK_ERROR_CODES', title: '`UplinkError`', codes: UPLINK_ERROR_CODES },
  { name: 'TLS_ERROR_CODES', title: '`TlsConfigError`', codes: TLS_ERROR_CODES },
  { name: 'JETSTREAM_STORE_ERROR_CODES', title: '`JetStreamStoreError`', codes: JETSTREAM_STORE_ERROR_CODES },
  // Codes alone: the README says more of each than a one-line table entry would.
  { name: 'EVENT_SERVICE_ERROR_CODES', title: '`EventServiceError`', codes: EVENT_SERVICE_ERROR_CODES },
  { name: 'EVENT_STORE_ERROR_CODES', title: '`EventStoreError`', codes: EVENT_STORE_ERROR_CODES },
  { name: 'EVENT_REPLY_ERROR_CODES', title: '`events.<type>` replies', codes: EVENT_REPLY_ERROR_CODES },
  { name: 'FEED_ERROR_CODES', title: '`$EVENTS.FEED.QUERY`', codes: FEED_ERROR_CODES },
  { name: 'DEADLETTER_ERROR_CODES', title: '`/deadletters`', codes: DEADLETTER_ERROR_CODES },
  { name: 'INTAKE_HTTP_ERROR_CODES', title: '`[intake.http]`', codes: INTAKE_HTTP_ERROR_CODES },
];
/** The subsection of wire texts rather than codes (its own test below). */
const ERR_TITLE = '`-ERR`';

const codesOf = (t: CodeTable): string[] => (Array.isArray(t.codes) ? [...t.codes] : Object.keys(t.codes));

for (const table of TABLES) {
  const meanings = Array.isArray(table.codes) ? undefined : (table.codes as Readonly<Record<string, string>>);
  test(`the README lists every code of ${table.name}${meanings ? ' with its meaning' : ''}, and no other`, () => {
    const doc = codeTable(table.title);
    assertSameKeys(doc.keys(), codesOf(table), table.title);
    for (const [code, meaning] of Object.entries(meanings ?? {})) assert.equal(doc.get(code), meaning, code);
  });
}

test('every code table the packages export has its README subsection, and every subsection under "## Error codes" its table', () => {
  const exported = [...Object.keys(shared), ...Object.keys(serviceCodes), ...Object.keys(jetstreamCodes)].filter((k) =>
    k.endsWith('_ERROR_CODES'),
  );
  assertSameKeys(
    TABLES.map((t) => t.name),
    exported,
    'code tables exported (*_ERROR_CODES) and checked here',
  );
  for (const title of errorCodeSections().keys()) {
    const claimed = TABLES.filter((t) => title.includes(t.title)).map((t) => t.name);
    if (title.includes(ERR_TITLE)) claimed.push('protocol/errors.ts');
    assert.equal(
      claimed.length,
      1,
      `README "### ${title}": one table should list its codes, found ${claimed.join(', ') || 'none'}`,
    );
  }
});

/** The prefixes of the E-codes (`ESTORE_`, `EFEED_`...): a README word or a source string with one is meant as a code. */
const PREFIXES = [
  ...new Set(
    TABLES.flatMap(codesOf)
      .filter((c) => /^E[A-Z]+_[A-Z_]+$/.test(c))
      .map((c) => c.slice(0, c.indexOf('_') + 1)),
  ),
];
const ALL_CODES = new Set(TABLES.flatMap(codesOf));

test('every code the README names, anywhere, is a code of a table', () => {
  const lines = fs.readFileSync(README, 'utf8').split('\n');
  const word = new RegExp(`\\b(?:${PREFIXES.join('|')})[A-Z_]*[A-Z]\\b`, 'g');
  const unknown = lines.flatMap((l, i) =>
    [...l.matchAll(word)]
      .map((m) => m[0])
      .filter((c) => !ALL_CODES.has(c))
      .map((c) => `README.md:${i + 1}: ${c}`),
  );
  assert.deepEqual(unknown, [], 'codes the README names that no table has');
});

/**
 * The wire codes: what the store, the intake, the feed and the dead-letter API answer. The source names each
 * through its table's const (`FeedErrorCode.EFEED_QUERY`), so a bare string is a code written twice (or a new one
 * no table has), and each is named at least once (a code nothing answers with is stale).
 */
const WIRE: readonly (readonly [table: string, constName: string])[] = [
  ['EVENT_STORE_ERROR_CODES', 'EventStoreErrorCode'],
  ['EVENT_REPLY_ERROR_CODES', 'EventReplyErrorCode'],
  ['FEED_ERROR_CODES', 'FeedErrorCode'],
  ['DEADLETTER_ERROR_CODES', 'DeadLetterErrorCode'],
  ['INTAKE_HTTP_ERROR_CODES', 'IntakeHttpErrorCode'],
];

test("the service's source names each wire code through its table, never as a bare string, and every one is used", () => {
  const sources = (fs.readdirSync(SRC, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && path.basename(f) !== 'error-codes.ts')
    .map((f) => ({ file: path.join('src', f), text: fs.readFileSync(path.join(SRC, f), 'utf8') }));
  assert.ok(sources.length > 20, `the sources are found (${SRC})`);
  const wirePrefixes = PREFIXES.filter((p) =>
    WIRE.some(([name]) => codesOf(TABLES.find((t) => t.name === name)!).some((c) => c.startsWith(p))),
  );
  const bare = new RegExp(`(['"])((?:${wirePrefixes.join('|')})[A-Z_]+)\\1`, 'g');
  const found: string[] = [];
  for (const { file, text } of sources) {
    text.split('\n').forEach((l, i) => {
      for (const m of l.matchAll(bare)) found.push(`${file}:${i + 1}: ${m[0]}`);
    });
  }
  assert.deepEqual(found, [], 'wire codes written as strings: name them through error-codes.ts');
  const all = sources.map((s) => s.text).join('\n');
  for (const [name, constName] of WIRE) {
    const consts = (serviceCodes as unknown as Record<string, Record<string, string>>)[constName];
    assert.ok(consts !== undefined, `error-codes.ts exports ${constName}`);
    const table = TABLES.find((t) => t.name === name)!;
    assert.deepEqual(Object.keys(consts), codesOf(table), `${constName} names exactly ${name}'s codes`);
    const unused = codesOf(table).filter((c) => !all.includes(`${constName}.${c}`));
    assert.deepEqual(unused, [], `${name}: codes no module answers with`);
  }
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
    assert.ok(
      sent !== undefined && cells.length === 3,
      `README.md:${line}: expected | \`-ERR '...'\` or nothing | yes/no | when |`,
    );
    assert.ok(cells[1] === 'yes' || cells[1] === 'no', `README.md:${line}: closes must be yes or no, got ${cells[1]}`);
    assert.ok(!docCloses.has(sent), `README.md:${line}: ${sent} listed twice`);
    assert.ok(cells[2]!.length > 0, `README.md:${line}: ${sent} says not when`);
    docCloses.set(sent, cells[1] === 'yes');
  }
  assertSameKeys(docCloses.keys(), codeCloses.keys(), '-ERR');
  for (const [sent, closes] of codeCloses) assert.equal(docCloses.get(sent), closes, `${sent}: closes`);
});
