// better-sqlite3's native addon named by its path (the `nativeBinding` option), so opening a store does not run the
// `bindings` package's search: it builds a stack trace to find its caller and stats a dozen candidate paths, ~5 ms of
// every start (issue 16 item 5). Found once, beside the better-sqlite3 this package resolves; when no built addon is
// where its build puts one, better-sqlite3 searches as before.
import { createRequire } from 'node:module';

const BUILDS = ['Release', 'Debug'];
const require = createRequire(import.meta.url);
let found: string | null | undefined;

/** `new Database` options naming the addon, or none when it is not where a build leaves it. */
export function addonOption(): { nativeBinding?: string } {
  found ??= locate();
  return found === null ? {} : { nativeBinding: found };
}

function locate(): string | null {
  for (const build of BUILDS) {
    try {
      return require.resolve(`better-sqlite3/build/${build}/better_sqlite3.node`);
    } catch {
      // not this build
    }
  }
  return null;
}
