#!/usr/bin/env node
// Stable entry for the `event-service` command: the CLI itself is compiled into dist/ by the build.
import '../dist/src/cli.js';
