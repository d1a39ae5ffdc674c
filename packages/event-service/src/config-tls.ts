// A listener's TLS settings as the service's ports write them ([tls] for the client and WebSocket ports,
// [intake.http.tls]): certificate, key and CA files that reload (setSecureContext), and `verify`, which requires
// client certificates and, like turning TLS on or off, waits for a restart (the server's requestCert is fixed when it
// is made).
import { schema as s } from '@event-broker/shared';

/** The section; `live()`: its files are read again on a reload. */
export function listenerTlsSection() {
  return s
    .table({
      cert_path: s.path(),
      key_path: s.path(),
      root_ca_path: s.path().optional(),
      /** Require and verify client certificates against root_ca_path. */
      verify: s.boolean().default(false).restart(),
    })
    .optional()
    .live()
    .check((tls, ctx) => {
      if (tls.verify && tls.root_ca_path === undefined) {
        ctx.report(
          ['root_ca_path'],
          'ECONFIG_MISSING',
          'is required when verify = true (client certificates are checked against it)',
          ['verify'],
        );
      }
    });
}
