#!/usr/bin/env node
// Stable entry for the `event-gateway` command: the CLI itself is compiled into dist/ by the build.
import '../dist/src/cli.js';
