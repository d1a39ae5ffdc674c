// `POST /k8s/audit` on the [intake.http] listener: kube-apiserver's webhook audit backend posts an `EventList`
// (application/json); k8s-audit.ts converts it, and its events are submitted as one batch with the caller's
// identity. Ids come from the auditID, so the server's retry of a batch is answered with duplicates (2xx); 429 and
// 503 make it retry (its own backoff), 400 names the first bad field and drops the batch.
import { EventReplyErrorCode, IntakeHttpErrorCode } from '../error-codes.js';
import { mediaType, parseBody } from './binding.js';
import { k8sAuditEvents } from './k8s-audit.js';
import type { IntakeRoute } from './listener.js';
import { batchAnswer, outcomeOf, refusal, singleAnswer } from './respond.js';

export const K8S_AUDIT_PATH = '/k8s/audit';

export const k8sAuditRoute: IntakeRoute = async (r) => {
  const type = mediaType(r.req.headers['content-type']);
  if (type?.essence !== 'application/json' || (type.charset !== undefined && type.charset !== 'utf-8'))
    return singleAnswer(
      refusal(415, IntakeHttpErrorCode.EINTAKE_MEDIA_TYPE, 'expected application/json (an audit.k8s.io/v1 EventList)'),
    );
  const body = await r.body(r.settings.max_body);
  if (body === undefined) {
    const reason = `the body is over [intake.http] max_body (${r.settings.max_body} bytes)`;
    return singleAnswer(refusal(413, IntakeHttpErrorCode.EINTAKE_TOO_LARGE, reason));
  }
  const parsed = parseBody(body);
  if (!parsed.ok) return singleAnswer(invalid('', parsed.refusal.reason));
  const converted = k8sAuditEvents(parsed.value);
  if (!converted.ok) return singleAnswer(invalid(converted.field, converted.reason));
  const outcomes = await r.submit(converted.events);
  return batchAnswer(outcomes);
};

function invalid(field: string, reason: string) {
  return outcomeOf({ ok: false, error: { code: EventReplyErrorCode.EEVENT_INVALID, field, reason } });
}
