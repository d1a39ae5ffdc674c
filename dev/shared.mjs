// Loads the built shared package for the dev scripts (plain Node, run after `tsc -b`), with a clear message when
// the build is missing instead of a module-not-found stack.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CERTS_DIR = path.join(ROOT, 'certs');

const SHARED_ENTRY = path.join(ROOT, 'packages/shared/dist/src/index.js');

/** The shared package's exports (writeDevPki, mintDevToken, ...). */
export async function loadShared() {
  if (!fs.existsSync(SHARED_ENTRY)) {
    console.error(`${path.relative(ROOT, SHARED_ENTRY)} is missing: build first (npm start does, or: pnpm install && pnpm exec tsc -b)`);
    process.exit(1);
  }
  return import(pathToFileURL(SHARED_ENTRY).href);
}

/** True when the module at `url` is the script node was started with. */
export function isMain(url) {
  return process.argv[1] !== undefined && url === pathToFileURL(path.resolve(process.argv[1])).href;
}
