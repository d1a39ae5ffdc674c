// The service configuration lines the CLI tests start with: listeners on loopback at ports the OS picks (each
// test reads the bound port from the log's listening line).
import { HOST } from '@event-broker/test-support/processes';

/** Each named section (`service`, `monitor`, `leafnodes`...) as `[name]`, `host = "127.0.0.1"`, `port = 0`. */
export function loopbackListeners(...sections: readonly string[]): string[] {
  return sections.flatMap((name) => [`[${name}]`, `host = "${HOST}"`, 'port = 0']);
}
