// The generic configuration machinery on real files: TOML parsing with line tracking, patch merging, the schema
// kinds (durations, sizes, paths, arrays, optional tables), problem reporting and printing back as TOML.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  CONFIG_ERROR_CODES,
  ConfigError,
  closest,
  formatDuration,
  formatToml,
  loadConfig,
  loadLayers,
  parseByteSize,
  parseDuration,
  resolveConfig,
  schema as s,
  type ConfigProblem,
} from '../src/index.js';
import { tmpDir } from '@event-broker/test-support/tmp';

function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** Runs fn, asserts it throws a ConfigError, returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

function only(err: ConfigError): ConfigProblem {
  assert.equal(err.problems.length, 1, err.message);
  return err.problems[0]!;
}

const app = s.table({
  name: s.string().default('app'),
  server: s.table({
    port: s.integer({ min: 0, max: 65535 }).default(8080),
    timeout: s.duration({ minMs: 1 }).default(5000),
    buffer: s.size({ min: 1, max: 1024 * 1024 }).default(4096),
    tags: s.stringArray().default([]),
    mode: s.oneOf(['fast', 'safe']).default('safe'),
    debug: s.boolean().default(false),
  }),
  files: s
    .table({
      data: s.path(),
      cache: s.path().optional(),
    })
    .optional(),
});

test('a TOML file records the line of every key, dotted keys, inline tables and array elements included', (t) => {
  const dir = tmpDir(t);
  const file = write(
    dir,
    'a.toml',
    'top = 1\n[server]\nport = 1\nnested.deep = "x"\ninline = { a = 1, b = [\n  "p",\n  "q"] }\n',
  );
  const { layer } = loadLayers({ basePath: file });
  const lineOf = (k: string) => {
    const src = layer.sources.get(k);
    assert.ok(src && src.kind === 'base', `no file source for ${k}`);
    return src.line;
  };
  assert.equal(lineOf('top'), 1);
  assert.equal(lineOf('server'), 2);
  assert.equal(lineOf('server.port'), 3);
  assert.equal(lineOf('server.nested'), 4);
  assert.equal(lineOf('server.nested.deep'), 4);
  assert.equal(lineOf('server.inline.a'), 5);
  assert.equal(lineOf('server.inline.b[1]'), 7);
  assert.deepEqual(layer.tree, { top: 1, server: { port: 1, nested: { deep: 'x' }, inline: { a: 1, b: ['p', 'q'] } } });
});

test('a patch merges tables key by key and replaces arrays and scalars; sources follow the winning file', (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', '[server]\nport = 1\ntags = ["a", "b"]\nmode = "fast"\n');
  const patch = write(dir, 'patch.toml', '\n[server]\ntags = ["c"]\nport = 2\n');
  const { value, sources } = loadConfig(app, { basePath: base, patchPaths: [patch] });
  assert.equal(value.server.port, 2);
  assert.deepEqual(value.server.tags, ['c']);
  assert.equal(value.server.mode, 'fast');
  assert.deepEqual(sources.get('server.port'), { kind: 'patch', file: patch, line: 4, patch: 0 });
  assert.deepEqual(sources.get('server.tags'), { kind: 'patch', file: patch, line: 3, patch: 0 });
  assert.deepEqual(sources.get('server.mode'), { kind: 'base', file: base, line: 4 });
  assert.deepEqual(sources.get('server.debug'), { kind: 'default' });
});

test('patches apply in the order given: the later file wins', (t) => {
  const dir = tmpDir(t);
  const p1 = write(dir, 'p1.toml', '[server]\nport = 1\n');
  const p2 = write(dir, 'p2.toml', '[server]\nport = 2\n');
  assert.equal(loadConfig(app, { patchPaths: [p1, p2] }).value.server.port, 2);
  assert.equal(loadConfig(app, { patchPaths: [p2, p1] }).value.server.port, 1);
  const src = loadConfig(app, { patchPaths: [p1, p2] }).sources.get('server.port');
  assert.deepEqual(src, { kind: 'patch', file: p2, line: 2, patch: 1 });
});

test('a patch replacing a table with a scalar drops the table and its sources', (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', '[x]\na = 1\nb = 2\n');
  const patch = write(dir, 'patch.toml', 'x = 3\n');
  const { layer } = loadLayers({ basePath: base, patchPaths: [patch] });
  assert.deepEqual(layer.tree, { x: 3 });
  assert.equal(layer.sources.has('x.a'), false);
  assert.equal(layer.sources.get('x')?.kind, 'patch');
});

test('no files gives the schema defaults, every leaf sourced as default', () => {
  const { value, sources } = loadConfig(app, {});
  assert.deepEqual(value, {
    name: 'app',
    server: { port: 8080, timeout: 5000, buffer: 4096, tags: [], mode: 'safe', debug: false },
  });
  assert.ok([...sources.values()].every((src) => src.kind === 'default'));
  assert.equal(sources.size, 7);
});

test('durations read integer seconds and Go-style strings, normalised to milliseconds', (t) => {
  const dir = tmpDir(t);
  const cases: [string, number][] = [
    ['3', 3000],
    ['"250ms"', 250],
    ['"10s"', 10_000],
    ['"2m"', 120_000],
    ['"1h"', 3_600_000],
    ['"1h30m"', 5_400_000],
    ['"1.5s"', 1500],
  ];
  for (const [text, ms] of cases) {
    const file = write(dir, 'd.toml', `[server]\ntimeout = ${text}\n`);
    assert.equal(loadConfig(app, { basePath: file }).value.server.timeout, ms, text);
  }
  assert.equal(parseDuration('1x'), undefined);
  assert.equal(parseDuration('0.5ms'), undefined, 'not a whole number of milliseconds');
  for (const ms of [0, 1, 250, 1000, 90_000, 120_000, 3_600_000, 2 ** 31 - 1])
    assert.equal(parseDuration(formatDuration(ms)), ms);
});

test('sizes read bytes and unit strings with 1024 multiples for KB/MB/GB and 1000 for K/M/G', () => {
  assert.equal(parseByteSize('64KB'), 65_536);
  assert.equal(parseByteSize('1MB'), 1_048_576);
  assert.equal(parseByteSize('1MiB'), 1_048_576);
  assert.equal(parseByteSize('1mb'), 1_048_576);
  assert.equal(parseByteSize('64MB'), 64 * 1_048_576);
  assert.equal(parseByteSize('1GB'), 1024 ** 3);
  assert.equal(parseByteSize('1K'), 1000);
  assert.equal(parseByteSize('512'), 512);
  assert.equal(parseByteSize('1.5KB'), 1536);
  assert.equal(parseByteSize('12XB'), undefined);
  assert.equal(parseByteSize('-1KB'), undefined);
});

test('paths resolve against the directory of the file that named them, base and patch alike', (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'etc/base.toml', '[files]\ndata = "data/db"\ncache = "/abs/cache"\n');
  const patch = write(dir, 'patches/p.toml', '[files]\ndata = "../var/db"\n');
  assert.deepEqual(loadConfig(app, { basePath: base }).value.files, {
    data: path.join(dir, 'etc/data/db'),
    cache: '/abs/cache',
  });
  assert.equal(loadConfig(app, { basePath: base, patchPaths: [patch] }).value.files?.data, path.join(dir, 'var/db'));
});

test('relative file names given to the loader resolve against the cwd option', (t) => {
  const dir = tmpDir(t);
  write(dir, 'conf/a.toml', 'name = "rel"\n');
  const { value, sources } = loadConfig(app, { basePath: 'conf/a.toml', cwd: dir });
  assert.equal(value.name, 'rel');
  assert.deepEqual(sources.get('name'), { kind: 'base', file: path.join(dir, 'conf/a.toml'), line: 1 });
});

test('an optional table is absent until written, then validated in full', (t) => {
  const dir = tmpDir(t);
  assert.equal(loadConfig(app, {}).value.files, undefined);
  const file = write(dir, 'a.toml', 'name = "x"\n\n[files]\ncache = "c"\n');
  const p = only(configError(() => loadConfig(app, { basePath: file })));
  assert.deepEqual(p, {
    file,
    line: 3,
    key: 'files.data',
    reason: 'is required (a non-empty path string)',
    code: 'ECONFIG_MISSING',
  });
});

test('a syntax error names the file, line and column', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'bad.toml', '[server]\nport = 1\nmode = "unterminated\n');
  const err = configError(() => loadConfig(app, { basePath: file }));
  const p = only(err);
  assert.equal(err.code, 'ECONFIG_SYNTAX');
  assert.equal(p.file, file);
  assert.equal(p.line, 3);
  assert.equal(typeof p.column, 'number');
  assert.match(err.message, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: TOML syntax`));
});

test('a byte-order mark and CRLF line ends are read like plain LF text', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'win.toml', '\uFEFFname = "w"\r\n[server]\r\nport = 7\r\n');
  const { value, sources } = loadConfig(app, { basePath: file });
  assert.equal(value.name, 'w');
  assert.equal(value.server.port, 7);
  assert.deepEqual(sources.get('server.port'), { kind: 'base', file, line: 3 });
});

test('a key defined twice is a syntax error (TOML 1.0)', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'dup.toml', 'name = "a"\nname = "b"\n');
  const p = only(configError(() => loadConfig(app, { basePath: file })));
  assert.equal(p.code, 'ECONFIG_SYNTAX');
  assert.equal(p.line, 2);
});

test('a missing file and a syntax error in another file are reported together', (t) => {
  const dir = tmpDir(t);
  const bad = write(dir, 'bad.toml', 'name = \n');
  const missing = path.join(dir, 'missing.toml');
  const err = configError(() => loadConfig(app, { basePath: missing, patchPaths: [bad] }));
  assert.deepEqual(
    err.problems.map((p) => [p.code, p.file]),
    [
      ['ECONFIG_FILE', missing],
      ['ECONFIG_SYNTAX', bad],
    ],
  );
  assert.equal(err.code, 'ECONFIG_FILE');
  assert.match(err.message, /missing\.toml: cannot read the file: no such file/);
});

test('an unknown key suggests the nearest known key, or where the key belongs', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'a.toml', 'nmae = "x"\n[server]\nprot = 1\n[files]\ndata = "d"\nport = 2\n[extra]\n');
  const err = configError(() => loadConfig(app, { basePath: file }));
  assert.deepEqual(
    err.problems.map((p) => [p.line, p.key, p.reason, p.code]),
    [
      [1, 'nmae', 'unknown key (did you mean "name"?)', 'ECONFIG_UNKNOWN_KEY'],
      [3, 'server.prot', 'unknown key (did you mean "server.port"?)', 'ECONFIG_UNKNOWN_KEY'],
      [6, 'files.port', 'unknown key (there is "server.port" in [server])', 'ECONFIG_UNKNOWN_KEY'],
      [7, 'extra', 'unknown key (known here: name, server, files)', 'ECONFIG_UNKNOWN_KEY'],
    ],
  );
  assert.equal(closest('listen_limit', ['listener_limit', 'event_limit']), 'listener_limit');
  assert.equal(closest('zzz', ['port']), undefined);
});

test('every problem is reported at once, in file then line order', (t) => {
  const dir = tmpDir(t);
  const base = write(
    dir,
    'base.toml',
    [
      '[server]',
      'port = 70000',
      'timeout = "soon"',
      'buffer = "2MB"',
      'tags = ["a", 3]',
      'mode = "slow"',
      'debug = "yes"',
    ].join('\n'),
  );
  const patch = write(dir, 'p.toml', 'name = 5\n');
  const err = configError(() => loadConfig(app, { basePath: base, patchPaths: [patch] }));
  assert.deepEqual(
    err.problems.map((p) => `${path.basename(p.file)}:${p.line}: ${p.key}: ${p.code}`),
    [
      'base.toml:2: server.port: ECONFIG_RANGE',
      'base.toml:3: server.timeout: ECONFIG_VALUE',
      'base.toml:4: server.buffer: ECONFIG_RANGE',
      'base.toml:5: server.tags[1]: ECONFIG_TYPE',
      'base.toml:6: server.mode: ECONFIG_VALUE',
      'base.toml:7: server.debug: ECONFIG_TYPE',
      'p.toml:1: name: ECONFIG_TYPE',
    ],
  );
  assert.match(err.message, /base\.toml:2: server\.port: must be an integer from 0 to 65535, got 70000/);
  assert.match(err.message, /base\.toml:4: server\.buffer: must be a size .* to 1MB, got "2MB" \(2097152 bytes\)/);
  assert.match(err.message, /p\.toml:1: name: must be a non-empty string, got 5/);
  assert.match(err.message, /\(7 problems\)/);
});

test('an integer too large for a double is refused as written, not rounded', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'a.toml', '[server]\nport = 99999999999999999999\n');
  const p = only(configError(() => loadConfig(app, { basePath: file })));
  assert.equal(p.code, 'ECONFIG_RANGE');
  assert.match(p.reason, /got 99999999999999999999$/);
});

test('a table where a value belongs, and a value where a table belongs, are type problems', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'a.toml', 'server = 1\n[name]\nx = 1\n');
  const err = configError(() => loadConfig(app, { basePath: file }));
  assert.deepEqual(
    err.problems.map((p) => [p.line, p.key, p.reason]),
    [
      [1, 'server', 'must be a table, got 1'],
      [2, 'name', 'must be a non-empty string, got a table'],
    ],
  );
});

test('embedded input is validated like a file: numbers are milliseconds, problems name <embedded>', () => {
  const { value, sources } = resolveConfig(app, { server: { timeout: 1500, buffer: '1KB', mode: undefined } });
  assert.equal(value.server.timeout, 1500);
  assert.equal(value.server.buffer, 1024);
  assert.equal(value.server.mode, 'safe');
  assert.deepEqual(sources.get('server.timeout'), { kind: 'embedded' });
  const err = configError(() => resolveConfig(app, { server: { port: '80', timeout: 0 }, other: true }));
  assert.deepEqual(
    err.problems.map((p) => `${p.file}: ${p.key}: ${p.code}`),
    [
      '<embedded>: other: ECONFIG_UNKNOWN_KEY',
      '<embedded>: server.port: ECONFIG_TYPE',
      '<embedded>: server.timeout: ECONFIG_RANGE',
    ],
  );
  assert.match(err.message, /<embedded>: server\.port: must be an integer from 0 to 65535, got "80"/);
  assert.equal(configError(() => resolveConfig(app, 'nope')).code, 'ECONFIG_TYPE');
});

test('a section check reports a cross-setting problem at the line of the setting that requires it', (t) => {
  const dir = tmpDir(t);
  const checked = s.table({
    tls: s
      .table({ verify: s.boolean().default(false), ca: s.path().optional() })
      .optional()
      .check((v, ctx) => {
        if (v.verify && v.ca === undefined)
          ctx.report(['ca'], 'ECONFIG_MISSING', 'is required when verify = true', ['verify']);
      }),
  });
  const file = write(dir, 'a.toml', '[tls]\n\nverify = true\n');
  assert.deepEqual(only(configError(() => loadConfig(checked, { basePath: file }))), {
    file,
    line: 3,
    key: 'tls.ca',
    reason: 'is required when verify = true',
    code: 'ECONFIG_MISSING',
  });
});

test('a section is added to a schema with extend, keeping the existing ones', () => {
  const more = app.extend({ monitor: s.table({ port: s.integer({ min: 0, max: 65535 }).default(8222) }).optional() });
  const { value } = resolveConfig(more, { monitor: {} });
  assert.equal(value.monitor?.port, 8222);
  assert.equal(value.server.port, 8080);
});

test('formatToml prints short durations and sizes, redacts secrets, and reads back to the same value', (t) => {
  const dir = tmpDir(t);
  const withSecret = app.extend({ auth: s.table({ password: s.string().optional(), user: s.string().optional() }) });
  const input = {
    name: 'weird "name"\twith\u007fcontrol',
    server: { port: 1, timeout: 90_000, buffer: 65_536, tags: ['a', 'b c'], mode: 'fast' as const, debug: true },
    files: { data: path.join(dir, 'd') },
    auth: { password: 'hunter2', user: 'me' },
  };
  const { value } = resolveConfig(withSecret, input);
  const text = formatToml(withSecret, value);
  assert.match(text, /timeout = "1m30s"/);
  assert.match(text, /buffer = "64KB"/);
  assert.match(text, /password = "<redacted>"/);
  assert.doesNotMatch(text, /hunter2/);
  const file = write(dir, 'out.toml', text);
  const back = loadConfig(withSecret, { basePath: file }).value;
  assert.deepEqual(back, { ...value, auth: { password: '<redacted>', user: 'me' } });
});

test('every error code has a description', () => {
  for (const [code, text] of Object.entries(CONFIG_ERROR_CODES)) {
    assert.match(code, /^ECONFIG_[A-Z_]+$/);
    assert.ok(text.length > 10, code);
  }
});
