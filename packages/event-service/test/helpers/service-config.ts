// What the event service's config*.test.ts files share: the settings a service gets with no file, the check that a
// load was refused with one problem reading `file:line: key: reason`, and a path made safe inside a RegExp. The
// tests are those files'.
import { ConfigError } from '@event-broker/shared';
import { assertOneProblem, refusedWith } from '@event-broker/test-support/config-problems';
import type { ServiceConfig } from '../../src/config-types.js';

export const MiB = 1024 * 1024;

export const DEFAULTS: ServiceConfig = {
  service: {
    host: '127.0.0.1',
    port: 10132,
    event_limit: 100_000,
    listener_limit: 10_000,
    max_payload: MiB,
    max_connections: 65_536,
    max_control_line: 4096,
    max_pending: 64 * MiB,
    max_subscriptions: 0,
    ping_interval: 120_000,
    ping_max: 2,
    write_deadline: 10_000,
    auth_timeout: 2_000,
    lame_duck_duration: 25_000,
    lame_duck_grace_period: 10_000,
  },
  log: { format: 'text', level: 'info' },
};

export function refused(fn: () => unknown): ConfigError {
  return refusedWith(ConfigError, fn);
}

export { assertOneProblem };

export function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
