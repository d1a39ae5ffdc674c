// Reading TOML 1.0 files into layers: toml-eslint-parser does the parsing (values and line numbers); this module
// reads files, records the line of every key, and turns read and syntax failures into ConfigProblems.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { getStaticTOMLValue, parseTOML, ParseError, type AST } from 'toml-eslint-parser';
import { ConfigError, type ConfigProblem } from './errors.js';
import { mergeAll } from './patch.js';
import {
  formatKey,
  isTable,
  type ConfigPath,
  type ConfigTable,
  type ConfigValue,
  type Layer,
  type ValueSource,
} from './tree.js';

/** What a file is to the load: the base, or the patch at this 0-based position. */
export type FileRole = { kind: 'base' } | { kind: 'patch'; patch: number };

/** Parses TOML text as `file` (used in sources and problems). Throws ConfigError ECONFIG_SYNTAX. */
export function parseTomlLayer(text: string, file: string, role: FileRole = { kind: 'base' }): Layer {
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(text, { tomlVersion: '1.0', filePath: file });
  } catch (err) {
    if (err instanceof ParseError) {
      throw new ConfigError(
        [
          {
            file,
            line: err.lineNumber,
            column: err.column + 1,
            key: '',
            reason: `TOML syntax: ${err.message}`,
            code: 'ECONFIG_SYNTAX',
          },
        ],
        { cause: err },
      );
    }
    throw err;
  }
  const tree = getStaticTOMLValue(ast) as ConfigTable;
  const sources = new Map<string, ValueSource>();
  const at = (line: number): ValueSource =>
    role.kind === 'base' ? { kind: 'base', file, line } : { kind: 'patch', file, line, patch: role.patch };
  const walker = new SourceWalker(tree, sources, at);
  for (const item of ast.body[0].body) {
    if (item.type === 'TOMLKeyValue') walker.keyValue(item, []);
    else walker.table(item);
  }
  return { tree, sources };
}

/** Reads and parses one file; relative paths resolve against `cwd`. Throws ConfigError ECONFIG_FILE or _SYNTAX. */
export function readTomlLayer(path: string, role: FileRole = { kind: 'base' }, cwd = process.cwd()): Layer {
  const file = resolve(cwd, path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      [{ file, key: '', reason: `cannot read the file: ${describeReadError(err)}`, code: 'ECONFIG_FILE' }],
      {
        cause: err,
      },
    );
  }
  // Editors on Windows may save a byte-order mark; the TOML grammar has no place for one.
  return parseTomlLayer(text.startsWith('\uFEFF') ? text.slice(1) : text, file, role);
}

export interface LoadLayersOptions {
  /** The base file; without it the patches apply over an empty tree (so the schema defaults). */
  basePath?: string;
  /** Patch files merged over the base in order, the later winning. */
  patchPaths?: readonly string[];
  /** Directory relative file names resolve against (default: the process's). */
  cwd?: string;
}

export interface LoadedLayers {
  /** The merged tree with the source of every node. */
  layer: Layer;
  /** Absolute paths in load order (base first); problems sort by it. */
  files: string[];
}

/**
 * Reads the base and every patch, then merges them. Every file is read and parsed even after one fails, so a
 * missing patch and a syntax error elsewhere are reported together.
 */
export function loadLayers(opts: LoadLayersOptions = {}): LoadedLayers {
  const cwd = opts.cwd ?? process.cwd();
  const wanted: { path: string; role: FileRole }[] = [];
  if (opts.basePath !== undefined) wanted.push({ path: opts.basePath, role: { kind: 'base' } });
  (opts.patchPaths ?? []).forEach((path, i) => wanted.push({ path, role: { kind: 'patch', patch: i } }));

  const layers: Layer[] = [];
  const problems: ConfigProblem[] = [];
  const causes: unknown[] = [];
  for (const { path, role } of wanted) {
    try {
      layers.push(readTomlLayer(path, role, cwd));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      causes.push(err.cause);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, { cause: causes.length === 1 ? causes[0] : causes });
  return { layer: mergeAll(layers), files: wanted.map((w) => resolve(cwd, w.path)) };
}

function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (err as Error).message;
}

/** Walks the AST beside the value tree, recording the line of every key, table header and array element. */
class SourceWalker {
  constructor(
    private readonly tree: ConfigTable,
    private readonly sources: Map<string, ValueSource>,
    private readonly at: (line: number) => ValueSource,
  ) {}

  keyValue(kv: AST.TOMLKeyValue, base: ConfigPath): void {
    const keys = getStaticTOMLValue(kv.key);
    const line = kv.loc.start.line;
    const path = [...base];
    for (const k of keys.slice(0, -1)) {
      path.push(k);
      this.setIfAbsent(path, line); // a dotted key creates (or extends) its tables here
    }
    path.push(keys[keys.length - 1]!);
    this.sources.set(formatKey(path), this.at(line));
    this.content(kv.value, path);
  }

  table(t: AST.TOMLTable): void {
    const line = t.loc.start.line;
    const path = t.resolvedKey;
    for (let i = 1; i < path.length; i++) this.setIfAbsent(path.slice(0, i), line);
    // A header may define a table a dotted key or a deeper header created implicitly; the header's line is the
    // one a reader looks for.
    this.sources.set(formatKey(path), this.at(line));
    for (const kv of t.body) this.keyValue(kv, path);
  }

  private content(node: AST.TOMLContentNode, path: ConfigPath): void {
    if (node.type === 'TOMLInlineTable') {
      for (const kv of node.body) this.keyValue(kv, path);
    } else if (node.type === 'TOMLArray') {
      node.elements.forEach((el, i) => {
        const p = [...path, i];
        this.sources.set(formatKey(p), this.at(el.loc.start.line));
        this.content(el, p);
      });
    } else if (node.kind === 'integer' && !Number.isSafeInteger(node.value)) {
      // getStaticTOMLValue rounds to a double; keep the exact integer so a range problem shows what was written.
      this.replace(path, node.bigint);
    }
  }

  private setIfAbsent(path: ConfigPath, line: number): void {
    const key = formatKey(path);
    if (!this.sources.has(key)) this.sources.set(key, this.at(line));
  }

  private replace(path: ConfigPath, value: ConfigValue): void {
    let node: ConfigValue = this.tree;
    for (const seg of path.slice(0, -1)) {
      node = (
        Array.isArray(node) ? node[seg as number] : isTable(node) ? node[seg as string] : undefined
      ) as ConfigValue;
    }
    const last = path[path.length - 1]!;
    if (Array.isArray(node)) node[last as number] = value;
    else if (isTable(node)) node[last as string] = value;
  }
}
