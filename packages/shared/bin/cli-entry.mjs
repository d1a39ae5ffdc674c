// What the two commands' bins (event-service, event-gateway) run. The bundle scripts/bundle.mjs makes after the build
// (dist/bundle/cli.mjs) starts several times faster than tsc's dist/src/cli.js, the same program in hundreds of files;
// the bundle is used unless it is missing or older than the last build of the package or of shared (a `tsc -b`
// without the bundle step must not run yesterday's code).
//
// Stack traces through the bundle name the TypeScript sources, mapped when a stack is formatted (mapBundleStacks).
// Node's own source-map support (process.setSourceMapsEnabled, --enable-source-maps) reads and indexes the map and
// splits the 1.4 MB bundle into lines as the bundle loads: ~30 ms of a ~300 ms start (issue 16 item 5), spent before
// any stack is asked for. Run with --enable-source-maps and Node maps them itself, as before.
import { readFileSync, statSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Runs the command whose bin is at `binUrl` (its `import.meta.url`): the fresh bundle, or tsc's files. */
export async function runCli(binUrl) {
  const at = (rel) => new URL(rel, binUrl);
  const mtime = (rel) => statSync(at(rel), { throwIfNoEntry: false })?.mtimeMs ?? NaN;
  const builds = [mtime('../dist/tsconfig.tsbuildinfo'), mtime('../../shared/dist/tsconfig.tsbuildinfo')];
  const built = Math.max(...builds.filter(Number.isFinite));
  if (mtime('../dist/bundle/cli.mjs') >= built) {
    mapBundleStacks(at('../dist/bundle/').href);
    await import(at('../dist/bundle/cli.mjs').href);
  } else {
    await import(at('../dist/src/cli.js').href);
  }
}

/**
 * From now on, a stack frame in a file under `dirHref` (a bundle's directory, as a file URL) names the source its
 * `.map` gives, the way --enable-source-maps prints it; each map is read at the first stack that needs it. Frames
 * elsewhere, and any frame the map does not cover, read as V8 writes them.
 */
export function mapBundleStacks(dirHref) {
  if (process.sourceMapsEnabled) return;
  const maps = new Map();
  const mapOf = (file) => {
    if (typeof file !== 'string' || !file.startsWith(dirHref)) return null;
    if (!maps.has(file)) maps.set(file, readMap(file));
    return maps.get(file);
  };
  const nodeError = nodeErrorMark();
  Error.prepareStackTrace = (error, frames) => {
    let head;
    try {
      // Node's own errors read `TypeError [ERR_X]: message`, as Node's formatter writes them.
      head =
        nodeError !== undefined && Object(error) === error && nodeError in error
          ? `${error.name} [${error.code}]: ${error.message}`
          : Error.prototype.toString.call(error);
    } catch {
      head = '<error>';
    }
    return head + frames.map((frame) => `\n    at ${frameText(frame, mapOf)}`).join('');
  };
}

/** The symbol Node marks its own errors with (internal/errors.js kIsNodeError), taken from one; none if it is gone. */
function nodeErrorMark() {
  try {
    Buffer.alloc(-1);
  } catch (err) {
    for (let proto = Object.getPrototypeOf(err); proto !== null; proto = Object.getPrototypeOf(proto)) {
      const mark = Object.getOwnPropertySymbols(proto).find((symbol) => symbol.description === 'kIsNodeError');
      if (mark !== undefined) return mark;
    }
  }
  return undefined;
}

/** The bundle file's linked map with its sources as file URLs, or null when there is none that parses. */
function readMap(file) {
  try {
    const url = new URL(`${file}.map`);
    const payload = JSON.parse(readFileSync(url, 'utf8'));
    payload.sources = payload.sources.map((source) => new URL(source, url).href);
    return new SourceMap(payload);
  } catch {
    return null;
  }
}

/** V8's text for the frame, its bundle location replaced by the source's (path:line:column, 1-based). */
function frameText(frame, mapOf) {
  const text = `${frame}`;
  try {
    const file = frame.getFileName();
    const map = mapOf(file);
    const line = frame.getLineNumber();
    const column = frame.getColumnNumber();
    if (map === null || line === null || column === null) return text;
    const entry = map.findEntry(line - 1, column - 1);
    if (typeof entry?.originalSource !== 'string') return text;
    const source = entry.originalSource.startsWith('file:')
      ? fileURLToPath(entry.originalSource)
      : entry.originalSource;
    const where = `${file}:${line}:${column}`;
    const at = text.lastIndexOf(where);
    if (at < 0) return text;
    return `${text.slice(0, at)}${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}${text.slice(at + where.length)}`;
  } catch {
    return text;
  }
}
