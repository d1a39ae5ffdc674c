// The [auth] key read when the configuration is loaded, so a missing file or an algorithm the key cannot verify
// fails the load, not the first client: keys.ts's problems turned into configuration problems that point at the
// setting's file and line. Reading and judging the key is keys.ts's; the schema (config.ts) runs this after it.
import { ConfigError, type ConfigProblem, type ConfigSources, type ValueSource } from '@event-broker/shared';
import { keySetting, loadVerificationKey, type KeyProblem, type KeySettings } from './keys.js';

/** The key file read now; throws ConfigError listing its problems (`file:line: auth.<setting>: reason`). */
export function checkAuthKey(auth: KeySettings, sources: ConfigSources): void {
  const loaded = loadVerificationKey(auth);
  if (loaded.ok) return;
  const problems = loaded.problems.map((p) => toConfigProblem(p, auth, sources));
  throw new ConfigError(problems);
}

function toConfigProblem(p: KeyProblem, auth: KeySettings, sources: ConfigSources): ConfigProblem {
  // An algorithm problem points at the allow-list when one was written, else at the key that cannot serve.
  const key =
    p.setting === 'algorithms' && auth.algorithms !== undefined
      ? 'auth.algorithms'
      : `auth.${p.setting === 'algorithms' ? keySetting(auth).setting : p.setting}`;
  const src: ValueSource | undefined = sources.get(key);
  const file =
    src === undefined || src.kind === 'default' ? '<defaults>' : src.kind === 'embedded' ? '<embedded>' : src.file;
  const line = src !== undefined && (src.kind === 'base' || src.kind === 'patch') ? src.line : undefined;
  return { file, ...(line !== undefined && { line }), key, reason: p.reason, code: p.code };
}
