#!/usr/bin/env node
// Stable entry for the `event-gateway` command (and what `npm start` runs). The bundle scripts/bundle.mjs makes after
// the build (dist/bundle/cli.mjs) starts faster than tsc's dist/src/cli.js, the same program in hundreds of files;
// the bundle is used unless it is missing or older than the last build of this package or of shared (a `tsc -b`
// without the bundle step must not run yesterday's code). The gateway's workers (node:cluster) run this file again.
import { statSync } from 'node:fs';

const here = (rel) => new URL(rel, import.meta.url);
const mtime = (rel) => statSync(here(rel), { throwIfNoEntry: false })?.mtimeMs ?? NaN;
const builds = [mtime('../dist/tsconfig.tsbuildinfo'), mtime('../../shared/dist/tsconfig.tsbuildinfo')];
const built = Math.max(...builds.filter(Number.isFinite));
if (mtime('../dist/bundle/cli.mjs') >= built) {
  // Stack traces through the bundle's map name the TypeScript sources.
  process.setSourceMapsEnabled(true);
  await import('../dist/bundle/cli.mjs');
} else {
  await import('../dist/src/cli.js');
}
