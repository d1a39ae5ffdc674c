// The [intake.http] listener started beside the handlers (server.ts), with what it needs of the service: the
// intake, the live max_payload, the catalogue. Its routes: CloudEvents (listener.ts) and the Kubernetes audit webhook.
import type { EventCatalogue, Logger } from '@event-broker/shared';
import type { ServiceConfig } from '../config-types.js';
import type { EventHandlers } from '../handlers/lifecycle.js';
import type { IntakeHttpSettings } from './config.js';
import { k8sAuditRoute, K8S_AUDIT_PATH } from './k8s-route.js';
import { HttpIntake } from './listener.js';

export { HttpIntake } from './listener.js';

/** What the listener reads of the running service. */
export interface IntakeHost {
  readonly handlers: EventHandlers | undefined;
  readonly config: ServiceConfig;
  readonly logger: Logger;
  /** The service's catalogue in force (a reload replaces it): what a token's event_types grant is read against. */
  readonly catalogue: EventCatalogue;
}

/** Listening, or undefined when [intake.http] is absent. Throws when the port cannot be bound or a file read. */
export async function startHttpIntake(
  settings: IntakeHttpSettings | undefined,
  host: IntakeHost,
): Promise<HttpIntake | undefined> {
  if (settings === undefined) return undefined;
  const intake = new HttpIntake(settings, {
    intake: () => host.handlers?.intake,
    maxPayloadBytes: () => host.config.service.max_payload,
    catalogue: () => host.catalogue,
    logger: host.logger.child({ component: 'intake-http' }),
  });
  intake.route(K8S_AUDIT_PATH, k8sAuditRoute);
  await intake.listen();
  return intake;
}
