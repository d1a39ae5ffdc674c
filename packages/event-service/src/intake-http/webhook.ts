// The CloudEvents webhook validation handshake (cloudevents/spec http-webhook.md section 4, "Abuse Protection"):
// a sender (Azure Event Grid, ...) sends OPTIONS with WebHook-Request-Origin before it delivers, and the listener
// consents with WebHook-Allowed-Origin and WebHook-Allowed-Rate when [intake.http] webhook_allowed_origins names that
// origin (or is "*"). Answered from the headers alone: no body is read and no outbound request is ever made
// (WebHook-Request-Callback is not followed). Whom the listener admits to POST is caller.ts's, unchanged by this.
import type http from 'node:http';
import { IntakeHttpErrorCode } from '../error-codes.js';
import { refusal, singleAnswer, type HttpAnswer } from './respond.js';
import { originProblem } from './webhook-origin.js';

/** The methods a CloudEvents path serves (RFC 9110 Allow; the spec's 4.2 asks for POST in it). */
export const HANDSHAKE_ALLOW = 'POST, OPTIONS';

/** What [intake.http] says about the handshake. */
export interface WebhookSettings {
  /** Origins granted (DNS names, compared case-insensitively), or ["*"]; empty: the handshake is refused. */
  webhook_allowed_origins: readonly string[];
  /** Requests per minute granted; absent: "*" (no limit stated). */
  webhook_allowed_rate?: number | undefined;
}

/** 4.1.4: a positive integer; nine digits bound it below 2^31 (a sender asking for more asks for "*"). */
const RATE = /^[1-9][0-9]{0,8}$/;

/** Without the spaces and tabs around it (RFC 9110 5.5's OWS; String.trim would take latin1 NBSP too). */
function ows(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

function badRequest(reason: string): HttpAnswer {
  return singleAnswer(refusal(400, IntakeHttpErrorCode.EINTAKE_REQUEST, reason), { allow: HANDSHAKE_ALLOW });
}

/** A header value for a message: quoted, bounded (its characters are JSON-escaped where the message goes). */
function shown(value: string): string {
  return JSON.stringify(value.slice(0, 64)) + (value.length > 64 ? '...' : '');
}

/**
 * The answer to OPTIONS on a CloudEvents path: 200 with the grant; 403 when the origin is not allowed (4.2: the
 * absence of WebHook-Allowed-Origin is the refusal, the status says it to a person); 400 when the request is no
 * handshake or its headers are malformed. A WebHook-Request-Callback never changes the answer: permission is granted
 * (or not) in this response, which 4.2 allows, and its URL (a secret, by 4.1.3) is neither fetched nor logged.
 */
export function webhookHandshake(req: http.IncomingMessage, settings: WebhookSettings): HttpAnswer {
  const headers = req.headersDistinct;
  const origins = headers['webhook-request-origin'];
  if (origins === undefined)
    return badRequest(
      'OPTIONS here is the CloudEvents webhook validation handshake: send WebHook-Request-Origin (cloudevents/spec http-webhook.md 4.1)',
    );
  if (origins.length !== 1) return badRequest('WebHook-Request-Origin is repeated: send one');
  const origin = ows(origins[0]!);
  const problem = originProblem(origin);
  if (problem !== undefined) return badRequest(`WebHook-Request-Origin ${shown(origin)} ${problem}`);
  const rates = headers['webhook-request-rate'];
  if (rates !== undefined && (rates.length !== 1 || !RATE.test(ows(rates[0]!))))
    return badRequest('WebHook-Request-Rate must be one positive integer (requests per minute)');

  const allowed = settings.webhook_allowed_origins;
  const lower = origin.toLowerCase();
  const grant = allowed.includes('*') ? '*' : allowed.some((a) => a.toLowerCase() === lower) ? origin : undefined;
  if (grant === undefined) {
    const why =
      allowed.length === 0
        ? `no origin is allowed ([intake.http] webhook_allowed_origins is empty): deliveries from ${shown(origin)} are not accepted`
        : `origin ${shown(origin)} is not in [intake.http] webhook_allowed_origins`;
    const callback =
      headers['webhook-request-callback'] === undefined
        ? ''
        : '; WebHook-Request-Callback is never followed: permission is only ever granted in this answer';
    return singleAnswer(refusal(403, IntakeHttpErrorCode.EINTAKE_FORBIDDEN, why + callback), {
      allow: HANDSHAKE_ALLOW,
    });
  }
  const rate = settings.webhook_allowed_rate === undefined ? '*' : String(settings.webhook_allowed_rate);
  return {
    status: 200,
    headers: { allow: HANDSHAKE_ALLOW, 'webhook-allowed-origin': grant, 'webhook-allowed-rate': rate },
    body: { allowed_origin: grant, allowed_rate: rate },
  };
}
