// better-sqlite3's native addon named by its path (the `nativeBinding` option), so opening a store does not run the
// `bindings` package's search from better-sqlite3's code: it builds a stack trace to find its caller and stats a dozen
// candidate paths, ~5 ms of every start (issue 16 item 5). And inside the CLI's bundle that search cannot run at all
// (bindings reads `__filename`, which an ES module bundle lacks: "__filename is not defined"). Found once, beside the
// better-sqlite3 this package resolves: where its build leaves the addon, or else by the same `bindings` search run
// from better-sqlite3's own directory (its `bindings`, loaded by Node, not bundled), whose error lists where it looked.
import { createRequire } from 'node:module';
import path from 'node:path';

const BUILDS = ['Release', 'Debug'];
const ADDON = 'better_sqlite3.node';
let found: string | undefined;

/** `new Database` options naming the addon; throws bindings' "Could not locate the bindings file" when there is none. */
export function addonOption(): { nativeBinding: string } {
  found ??= locateAddon(import.meta.url);
  return { nativeBinding: found };
}

type Bindings = (opts: { bindings: string; module_root: string; path: true }) => string;

/** The addon of the better-sqlite3 that `from` (a module's URL or path) resolves. */
export function locateAddon(from: string): string {
  const require = createRequire(from);
  for (const build of BUILDS) {
    try {
      return require.resolve(`better-sqlite3/build/${build}/${ADDON}`);
    } catch {
      // not this build
    }
  }
  const pkg = require.resolve('better-sqlite3/package.json');
  const bindings = createRequire(pkg)('bindings') as Bindings;
  return bindings({ bindings: ADDON, module_root: path.dirname(pkg), path: true });
}
