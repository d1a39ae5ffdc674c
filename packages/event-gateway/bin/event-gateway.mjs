#!/usr/bin/env node
// Stable entry for the `event-gateway` command (and what `npm start` runs): the bundle scripts/bundle.mjs makes after
// the build, or tsc's files when it is missing or stale (shared's bin/cli-entry.mjs says which, and maps stacks). The
// gateway's workers (node:cluster) run this file again.
import { runCli } from '@event-broker/shared/cli-entry';

await runCli(import.meta.url);
