// What a webhook origin (WebHook-Request-Origin, cloudevents/spec http-webhook.md 4.1.2) may be: a DNS name. Apart
// from webhook.ts so the config schema (config.ts) checks webhook_allowed_origins without the listener's answers.

// A DNS name's label (RFC 1123 2.1; "_" as service names use it): what section 4.1.2 asks the origin to be. It also
// keeps the value safe to echo in a header and a log line.
const LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;
const MAX_NAME_CHARS = 253;

/** Why `name` is not a DNS name an origin can be, or undefined when it is one. */
export function originProblem(name: string): string | undefined {
  if (name.length > MAX_NAME_CHARS) return `is longer than a DNS name (${MAX_NAME_CHARS} characters)`;
  if (name.split('.').every((l) => LABEL.test(l))) return undefined;
  return 'is not a DNS name (dot-separated labels of letters, digits, "-" and "_", such as "eventgrid.azure.net")';
}

/** The config check of webhook_allowed_origins: each entry's problem by index, and "*" beside names. */
export function allowedOriginsProblems(list: readonly string[]): { at: number; reason: string }[] {
  const problems: { at: number; reason: string }[] = [];
  list.forEach((entry, i) => {
    if (entry === '*') {
      if (list.length > 1) problems.push({ at: i, reason: '"*" allows every origin: list it alone' });
      return;
    }
    const problem = originProblem(entry);
    if (problem !== undefined) problems.push({ at: i, reason: `${JSON.stringify(entry)} ${problem}, or "*"` });
  });
  return problems;
}
