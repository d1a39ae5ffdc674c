// Debian's headless chromium for the browser tests, driven by playwright-core (which downloads nothing): where the
// binary is, whether the tests run (absent on a developer's machine they are skipped with the reason; under CI they
// must run, .ci/run installs it), and one way to launch it.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { within } from '@event-broker/test-support/wait';

/** The chromium binary on PATH, as `which chromium` finds it, or undefined. */
export function findChromium(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'chromium');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export const chromiumPath = findChromium();
const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

/** The `skip` option for a browser suite: false when it runs, else why not. */
export function browserSkip(what: string): string | false {
  return chromiumPath === undefined && !ci
    ? `chromium is not installed (apt-get install chromium); ${what} is skipped`
    : false;
}

/** Launches headless chromium; `args` are added to the defaults. */
export async function launchChromium(args: string[] = []): Promise<Browser> {
  if (chromiumPath === undefined)
    throw new Error('CI is set but chromium is not installed: .ci/run must apt-get install chromium');
  return within(
    chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      // Debian chromium as root needs --no-sandbox; the rest keep it off the (closed) network and quiet.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        ...args,
      ],
      timeout: 30_000,
    }),
    'chromium starts',
    35_000,
  );
}
