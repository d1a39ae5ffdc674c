#!/usr/bin/env node
// Bundles the event service's CLI and the event gateway's (tsc's dist/src/cli.js and what each imports) into
// packages/<package>/dist/bundle/cli.mjs, run by `npm start` and the packages' bins (issue 16 item 5): most of an
// unbundled start is Node's module loader resolving, reading and linking ~700 files, not the code in them.
// Run after `tsc -b` (scripts/bootstrap.mjs does). dist/src/cli.js stays as it was; the tests run that one.
//
// Two rules keep the bundle behaving like the files it came from:
// - Every bundled module's `import.meta.url` is its own dist/src file's URL, not the bundle's: worker threads
//   (`new Worker(new URL('./store-writer-worker.js', import.meta.url))`) start tsc's files, `createRequire` finds the
//   packages of the package the code belongs to (shared's pino-pretty, prom-client), the gRPC sink finds its .proto.
// - Packages that need their own files at run time stay outside (@grpc/* with its .proto loading). Imported by a path
//   relative to the bundle, so each is the very copy the importing package resolves (pnpm links a package's
//   dependencies under that package only). Inside, though they were outside before, as CommonJS costing ~25 ms
//   (pino) and ~10 ms (better-sqlite3) of resolving and compiling files at every start: pino, whose own files only
//   its transports need (thread-stream workers), which nothing here starts (shared's log.ts writes through
//   pino.destination); better-sqlite3's JavaScript, its native addon loaded by the path the store gives it
//   (event-service handlers/sqlite-addon.ts), not found by the `bindings` package's search from the bundle's place.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readFile, rm } from 'node:fs/promises';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXTERNAL = ['@grpc/grpc-js', '@grpc/proto-loader'];
/**
 * Modules whose `createRequire(import.meta.url)` is dropped, so their `require()` calls are the bundle's own: what they
 * name is bundled and still initialised at its first call, not at start. shared's log.ts: pino-pretty, which a text
 * log loads at start (28 ms of CommonJS loading, issue 16 item 5). The others (Ajv, prom-client, @grpc) are needed
 * later or never, and stay outside the bundle's text.
 */
const OWN_REQUIRE = [/[\\/]shared[\\/]dist[\\/]src[\\/]log\.js$/];
const CREATE_REQUIRE = /^const require = createRequire\(import\.meta\.url\);$/m;

/** What is bundled where (paths relative to the repository root, or absolute). */
export const BUNDLES = [
  {
    entry: 'packages/event-service/dist/src/cli.js',
    outdir: 'packages/event-service/dist/bundle',
  },
  {
    entry: 'packages/event-gateway/dist/src/cli.js',
    outdir: 'packages/event-gateway/dist/bundle',
  },
];

/** A bare specifier's package name: `@scope/name` or `name`, without a subpath. */
function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** A relative import specifier (always starting with ./ or ../, with forward slashes). */
function relativeSpecifier(from, to) {
  const rel = path.relative(from, to).split(path.sep).join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

function keepOwnFiles(outdir) {
  return {
    name: 'keep-own-files',
    setup(b) {
      // Externals by the path this importer resolves them to.
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData?.inner || !EXTERNAL.includes(packageOf(args.path))) return undefined;
        const found = await b.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: { inner: true },
        });
        if (found.errors.length > 0) return { errors: found.errors };
        return { path: relativeSpecifier(outdir, found.path), external: true };
      });
      // import.meta.url: the module's own file, written relative to the bundle so the tree can move as a whole.
      b.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async (args) => {
        let text = await readFile(args.path, 'utf8');
        if (OWN_REQUIRE.some((re) => re.test(args.path))) {
          if (!CREATE_REQUIRE.test(text)) throw new Error(`${args.path}: no createRequire(import.meta.url) to drop`);
          text = text.replace(CREATE_REQUIRE, '');
        }
        if (!text.includes('import.meta.url')) return { contents: text, loader: 'js' };
        const own = `new URL(${JSON.stringify(relativeSpecifier(outdir, args.path))}, import.meta.url).href`;
        return { contents: text.replaceAll('import.meta.url', own), loader: 'js' };
      });
    },
  };
}

/** Writes each target's `cli.mjs` (with its chunks and source maps); a test bundles into a directory of its own. */
export async function bundle(targets = BUNDLES) {
  for (const { entry, outdir } of targets) {
    const out = path.resolve(ROOT, outdir);
    await rm(out, { recursive: true, force: true }); // chunk names change with their content: no stale ones left
    await build({
      entryPoints: { cli: path.resolve(ROOT, entry) },
      outdir: out,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      // Chunks for what is imported with `import()` (nats.js and the JetStream backend, undici): still loaded only
      // when first used.
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Stack traces name the TypeScript sources (through tsc's maps), mapped when one is formatted (shared's
      // bin/cli-entry.mjs); the map holds no source text.
      sourcemap: 'linked',
      sourcesContent: false,
      // No comments or indentation: 1.43 -> 1.01 MB for Node to read, decode and V8 to scan at every start, and
      // pure ASCII (JSDoc comments kept arrows and µ, which made the whole text a two-byte string). Names stay, and
      // the map turns positions back into source lines.
      minifyWhitespace: true,
      // Lines of at most ~160 characters all the same (+0.6%): Node prints the line an uncaught exception was thrown
      // from before its stack, which was up to 250 KB of code on stderr at a crash.
      lineLimit: 160,
      logLevel: 'warning',
      // CommonJS packages inside the bundle call require() for Node's built-ins.
      banner: {
        js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);",
      },
      plugins: [keepOwnFiles(out)],
    });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    await bundle();
  } catch (err) {
    console.error(`bundle: ${err.message}`);
    process.exit(1);
  }
}
