#!/usr/bin/env node
// Stable entry for the `event-service` command (and what `npm start` runs): the bundle scripts/bundle.mjs makes after
// the build, or tsc's files when it is missing or stale (shared's bin/cli-entry.mjs says which, and maps stacks).
import { runCli } from '@event-broker/shared/cli-entry';

await runCli(import.meta.url);
