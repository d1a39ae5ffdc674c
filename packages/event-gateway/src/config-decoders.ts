// The settings whose decoders are written by hand, as the schema (config.ts) uses them: the upstream URLs, each
// checked by parseUpstreamUrl (public: the same check for a program that builds a configuration). The [auth]
// decoders are shared's (shared/src/auth/decoders.ts); where a reason is reported is shared/config's.
import { parseRemoteUrl, remoteUrlList } from '@event-broker/shared';

const UPSTREAM_URL = { credentialSettings: '[upstream] user and password (or token)' };

/** `nats://host[:port]` or `tls://host[:port]`, normalised with the port; credentials, paths and queries refused. */
export function parseUpstreamUrl(
  text: string,
): { ok: true; url: string; tls: boolean; host: string; port: number } | { ok: false; reason: string } {
  return parseRemoteUrl(text, UPSTREAM_URL);
}

/** [upstream] urls: one URL or a list of them, each checked and normalised by parseUpstreamUrl (shared's). */
export function upstreamUrls() {
  return remoteUrlList(UPSTREAM_URL);
}
