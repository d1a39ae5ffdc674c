// Subject rules, checked against tables taken from nats-server's sublist_test.go cases and from nats-server 2.9.10's
// observed answers to SUB and pedantic PUB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isLiteralSubject,
  isValidPublishSubject,
  isValidQueueName,
  isValidSubject,
  subjectMatches,
} from '../src/subjects/index.js';

const validSubjects = [
  'foo',
  'foo.bar',
  'foo.bar.baz',
  '*',
  '>',
  'foo.*',
  'foo.>',
  '*.bar',
  '*.*.*',
  'foo.*.>',
  '*.>',
  'fo*o', // wildcards count only as whole tokens
  'a>b',
  'foo.bar*',
  '*foo.>bar',
  '>>',
  '**',
  '_INBOX.abc123.*',
  '$SYS.REQ.SERVER.PING',
  'foo\fbar', // nats-server 2.9.10 accepts form feed in SUB (only its IsValidSubject helper rejects it)
  'ünïcödé.主题',
  'foo-bar.baz_qux.1.2.3',
];

const invalidSubjects = [
  '',
  '.',
  '..',
  'foo..bar',
  '.foo',
  'foo.',
  'foo.>.bar',
  '>.foo',
  '>.>',
  'foo.>.*',
  'foo bar',
  'foo\tbar',
  'foo\rbar',
  'foo\nbar',
  ' foo',
  'foo ',
  'foo. ',
  ' ',
  '\t',
];

test('isValidSubject accepts subscribable subjects', () => {
  for (const s of validSubjects) assert.equal(isValidSubject(s), true, JSON.stringify(s));
});

test('isValidSubject rejects empty tokens, a non-final > and whitespace', () => {
  for (const s of invalidSubjects) assert.equal(isValidSubject(s), false, JSON.stringify(s));
});

test('isLiteralSubject is false only when * or > stands alone as a token', () => {
  const table: [string, boolean][] = [
    ['foo', true],
    ['foo.bar', true],
    ['fo*o', true],
    ['a>b.c', true],
    ['foo.bar*', true],
    ['**', true],
    ['foo..bar', true], // not a validity check
    ['*', false],
    ['>', false],
    ['foo.*', false],
    ['*.foo', false],
    ['foo.*.bar', false],
    ['foo.>', false],
    ['foo.*.>', false],
  ];
  for (const [s, want] of table) assert.equal(isLiteralSubject(s), want, JSON.stringify(s));
});

test('isValidPublishSubject is valid and wildcard-free (pedantic PUB)', () => {
  const table: [string, boolean][] = [
    ['foo', true],
    ['foo.bar', true],
    ['fo*o', true],
    ['a>b', true],
    ['foo\fbar', true], // nats-server 2.9.10 pedantic accepts it too
    ['foo.*', false],
    ['foo.>', false],
    ['*', false],
    ['>', false],
    ['foo..bar', false],
    ['foo.', false],
    ['.foo', false],
    ['', false],
    ['foo bar', false],
  ];
  for (const [s, want] of table) assert.equal(isValidPublishSubject(s), want, JSON.stringify(s));
});

test('isValidQueueName requires a non-empty name without whitespace', () => {
  const table: [string, boolean][] = [
    ['workers', true],
    ['q.1', true],
    ['*', true],
    ['>', true],
    ['', false],
    ['a b', false],
    ['a\tb', false],
    ['a\r', false],
    ['\nq', false],
  ];
  for (const [q, want] of table) assert.equal(isValidQueueName(q), want, JSON.stringify(q));
});

const matchTable: [pattern: string, subject: string, matches: boolean][] = [
  ['foo', 'foo', true],
  ['foo', 'bar', false],
  ['foo', 'foo.bar', false],
  ['foo.bar', 'foo', false],
  ['foo.bar', 'foo.bar', true],
  ['foo.bar', 'foo.baz', false],
  ['foo.bar', 'foo.barx', false],
  ['foo.bar', 'foo.ba', false],
  ['*', 'foo', true],
  ['*', 'foo.bar', false],
  ['foo.*', 'foo.bar', true],
  ['foo.*', 'foo', false],
  ['foo.*', 'foo.bar.baz', false],
  ['*.bar', 'foo.bar', true],
  ['*.bar', 'foo.baz', false],
  ['*.*', 'a.b', true],
  ['foo.*.baz', 'foo.bar.baz', true],
  ['foo.*.baz', 'foo.bar.bax', false],
  ['>', 'foo', true],
  ['>', 'foo.bar.baz', true],
  ['foo.>', 'foo', false], // `>` needs at least one token
  ['foo.>', 'foo.bar', true],
  ['foo.>', 'foo.bar.baz', true],
  ['foo.>', 'bar.baz', false],
  ['foo.*.>', 'foo.bar', false],
  ['foo.*.>', 'foo.bar.baz', true],
  ['foo.*.>', 'foo.bar.baz.qux', true],
  ['*.>', 'foo', false],
  ['*.>', 'foo.bar', true],
  // Literal tokens that merely contain wildcard characters match only themselves.
  ['fo*o', 'fo*o', true],
  ['fo*o', 'foxo', false],
  ['a>b', 'a>b', true],
  ['a>b', 'a.b', false],
  ['foo.bar*', 'foo.barx', false],
  // A published wildcard token is compared literally: only wildcard patterns reach it (as in the trie).
  ['foo.*', 'foo.*', true],
  ['foo.>', 'foo.*', true],
  ['foo.bar', 'foo.*', false],
  // Subjects with empty tokens match nothing, not even `>`.
  ['>', 'foo..bar', false],
  ['foo.>', 'foo..bar', false],
  ['foo.>', 'foo.bar.', false],
  ['*', '', false],
  ['>', '', false],
  ['foo.*', 'foo.', false],
  ['*.bar', '.bar', false],
];

test('subjectMatches: * takes one token, > one or more, literals compare exactly', () => {
  for (const [pattern, subject, want] of matchTable) {
    assert.equal(subjectMatches(pattern, subject), want, `${pattern} ~ ${subject}`);
  }
});
