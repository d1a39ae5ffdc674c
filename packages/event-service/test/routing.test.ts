// Which sinks an event goes to (handlers/routing.ts): a filter's includes (empty: the sink's default set) minus its
// "!" exclusions, AND every match list; a default filter also takes the types whose catalogue entry names the sink.
// Cases by hand, and a fast-check property against a plain restatement of the rule (fixed seed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventCatalogue, eventKey, matchesFilter, type EventEnvelope } from '@event-broker/shared';
import { compileRoute, defaultFilter, SinkRouting } from '../src/handlers/routing.js';
import type { SinkMatch } from '../src/config-values.js';

const event = (type: string, extra: Partial<EventEnvelope> = {}): EventEnvelope =>
  ({ specversion: '1.0', id: 'x', source: '/t', type, ...extra }) as EventEnvelope;

function routing(sinks: Record<string, { filter?: string[]; match?: SinkMatch }>, catalogue?: EventCatalogue) {
  const r = new SinkRouting(catalogue && (() => catalogue));
  for (const [name, s] of Object.entries(sinks))
    r.set(name, { filter: s.filter ?? [], ...(s.match && { match: s.match }) });
  return r;
}

test('exclusions remove what the includes (or the default set) take', () => {
  const r = routing({
    all: {},
    noProfiles: { filter: ['!profile:*'] },
    scans: { filter: ['scanJob:*', '!scanJob:deleted'] },
    feed: { filter: ['!scanJob:created'] },
  });
  assert.deepEqual(r.sinksFor(event('profileCreated')), ['all', 'feed']);
  assert.deepEqual(r.sinksFor(event('scanJobDeleted')), ['all', 'noProfiles', 'feed']);
  assert.deepEqual(r.sinksFor(event('scanJobCreated')), ['all', 'noProfiles', 'scans']);
  assert.deepEqual(r.sinksFor(event('nodeTerminated')), ['all', 'noProfiles']);
  assert.deepEqual(defaultFilter('feed'), ['compliance:ingest', 'scanJob:*', 'profile:*']);
  assert.deepEqual(defaultFilter('audit'), ['*:*']);
});

test('each match list must hold the event value; tags and projects need one in common; authid is the stamped one', () => {
  const r = routing({
    producer: { match: { producer: ['p1', 'p9'] } },
    tags: { match: { tags: ['pci', 'sox'] } },
    projects: { match: { projects: ['prj'] } },
    authid: { match: { authid: ['alice'] } },
    both: { filter: ['scanJob:*'], match: { producer: ['p1'], authid: ['alice'] } },
  });
  const producer = { id: 'p1', name: 'n', type: 'service' };
  assert.deepEqual(
    r.sinksFor(event('scanJobCreated', { producer, tags: ['x', 'sox'], projects: ['prj'], authid: 'alice' })),
    ['producer', 'tags', 'projects', 'authid', 'both'],
  );
  assert.deepEqual(r.sinksFor(event('nodeTerminated', { producer, authid: 'bob' })), ['producer']);
  assert.deepEqual(r.sinksFor(event('scanJobCreated', { tags: [], projects: [], authid: 'alice' })), ['authid']);
  assert.deepEqual(r.sinksFor(event('scanJobCreated', { producer: { ...producer, id: 'p2' } })), []);
});

test('a default filter also takes the types whose catalogue entry names the sink; a filter of its own does not', () => {
  const catalogue = new EventCatalogue();
  catalogue.register({ type: 'badgeIssued', handlers: ['cfgingest', 'audit'] });
  const r = routing(
    { cfgingest: {}, audit: { filter: ['order:*'] }, event_feed: {}, feed: { filter: ['!badge:*'] } },
    catalogue,
  );
  assert.deepEqual(r.sinksFor(event('badgeIssued')), ['cfgingest', 'event_feed']);
  assert.deepEqual(r.sinksFor(event('nodeTerminated')), ['cfgingest', 'event_feed']);
  assert.equal(eventKey('badgeIssued', catalogue), 'badge:issued');
});

const part = fc.constantFrom('*', 'scanJob', 'profile', 'node', 'created', 'deleted');
const pattern = fc.tuple(fc.boolean(), part, part).map(([neg, n, v]) => `${neg ? '!' : ''}${n}:${v}`);
const types = [
  'scanJobCreated',
  'scanJobDeleted',
  'profileCreated',
  'nodeTerminated',
  'nodeDeleted',
  'complianceIngest',
];

test('property: routed iff some include matches, no exclusion matches, and every match list holds (fixed seed)', () => {
  fc.assert(
    fc.property(
      fc.array(pattern, { maxLength: 5 }),
      fc.constantFrom(...types),
      fc.option(fc.subarray(['a', 'b', 'c'], { minLength: 1 }), { nil: undefined }),
      fc.subarray(['a', 'b', 'c']),
      (filter, type, tagsMatch, tags) => {
        const match = tagsMatch === undefined ? undefined : { tags: tagsMatch };
        const r = routing({ s: { filter, ...(match && { match }) } });
        const key = eventKey(type);
        const includes = filter.filter((f) => !f.startsWith('!'));
        const excludes = filter.filter((f) => f.startsWith('!')).map((f) => f.slice(1));
        const expected =
          matchesFilter(key, includes.length > 0 ? includes : ['*:*']) &&
          !excludes.some((x) => matchesFilter(key, [x])) &&
          (tagsMatch === undefined || tags.some((t) => tagsMatch.includes(t)));
        assert.equal(r.sinksFor(event(type, { tags })).includes('s'), expected);
        assert.equal(compileRoute('s', { filter }).byDefault, includes.length === 0);
      },
    ),
    { seed: 14, numRuns: 500 },
  );
});
