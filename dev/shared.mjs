// Loads the built shared and dev-tools packages for the dev scripts (plain Node, run after `tsc -b`), with a clear
// message when the build is missing instead of a module-not-found stack.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CERTS_DIR = path.join(ROOT, 'certs');

const SHARED_ENTRY = path.join(ROOT, 'packages/shared/dist/src/index.js');
const DEV_TOOLS_ENTRY = path.join(ROOT, 'packages/dev-tools/dist/src/index.js');

async function load(entry) {
  if (!fs.existsSync(entry)) {
    console.error(
      `${path.relative(ROOT, entry)} is missing: build first (npm start does, or: pnpm install && pnpm exec tsc -b)`,
    );
    process.exit(1);
  }
  return import(pathToFileURL(entry).href);
}

/** The shared package's exports (keyFileExposure, ...). */
export function loadShared() {
  return load(SHARED_ENTRY);
}

/** The dev-only package's exports (writeDevPki, mintDevToken, DEV_PKI_FILES, ...). */
export function loadDevTools() {
  return load(DEV_TOOLS_ENTRY);
}

/** True when the module at `url` is the script node was started with. */
export function isMain(url) {
  return process.argv[1] !== undefined && url === pathToFileURL(path.resolve(process.argv[1])).href;
}
