// The [auth] key read when the configuration is loaded, so a missing file or an algorithm the key cannot verify
// fails the load, not the first client: keys.ts's problems turned into configuration problems that point at the
// setting's file and line. Reading and judging the key is keys.ts's; a schema runs this after it (the gateway's
// config entry), or inside the section's own check (keyFileCheck, the event service's [intake.http.auth]).
import { ConfigError, type ConfigProblem } from '../config/errors.js';
import type { CheckContext } from '../config/schema.js';
import type { ConfigSources, ValueSource } from '../config/tree.js';
import { keySetting, loadVerificationKey, type KeyProblem, type KeySettings } from './keys.js';

/**
 * The key file read now; throws ConfigError listing its problems (`file:line: <section>.<setting>: reason`).
 * `section` is the [auth] table's dotted path (`auth`, the gateway's).
 */
export function checkAuthKey(auth: KeySettings, sources: ConfigSources, section = 'auth'): void {
  const loaded = loadVerificationKey(auth);
  if (loaded.ok) return;
  const problems = loaded.problems.map((p) => toConfigProblem(p, auth, sources, section));
  throw new ConfigError(problems);
}

/** The same check as a section check: problems reported on the section's own keys (the schema adds file:line). */
export function keyFileCheck(auth: KeySettings, ctx: CheckContext): void {
  const loaded = loadVerificationKey(auth);
  if (loaded.ok) return;
  for (const p of loaded.problems) ctx.report([problemKey(p, auth)], p.code, p.reason);
}

// An algorithm problem points at the allow-list when one was written, else at the key that cannot serve.
function problemKey(p: KeyProblem, auth: KeySettings): string {
  if (p.setting === 'algorithms' && auth.algorithms !== undefined) return 'algorithms';
  return p.setting === 'algorithms' ? keySetting(auth).setting : p.setting;
}

function toConfigProblem(p: KeyProblem, auth: KeySettings, sources: ConfigSources, section: string): ConfigProblem {
  const key = `${section}.${problemKey(p, auth)}`;
  const src: ValueSource | undefined = sources.get(key);
  const file =
    src === undefined || src.kind === 'default' ? '<defaults>' : src.kind === 'embedded' ? '<embedded>' : src.file;
  const line = src !== undefined && (src.kind === 'base' || src.kind === 'patch') ? src.line : undefined;
  return { file, ...(line !== undefined && { line }), key, reason: p.reason, code: p.code };
}
