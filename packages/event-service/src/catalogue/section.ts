// The `[catalogue]` section: which files add event types to the built-in ones. Live: a reload (SIGHUP, `config
// patch`) reads the files again, whether the list changed or not (service-catalogue.ts).
import { dirname, isAbsolute, resolve } from 'node:path';
import { decodedOrProblems, describeValue, schema as s, tomlString, type DecodeProblem } from '@event-broker/shared';

/** Files one service reads its types from: a handful is usual; each is read on every reload. */
export const MAX_CATALOGUE_FILES = 64;

/** `files = ["types.toml", ...]`: each resolved against the directory of the file naming it, as every path is. */
function catalogueFiles() {
  const expected = `an array of catalogue file paths (at most ${MAX_CATALOGUE_FILES})`;
  return s.custom<string[]>({
    expected,
    decode(raw, source) {
      if (!Array.isArray(raw))
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be ${expected}, got ${describeValue(raw)}` };
      if (raw.length > MAX_CATALOGUE_FILES)
        return {
          ok: false,
          code: 'ECONFIG_RANGE',
          reason: `must list at most ${MAX_CATALOGUE_FILES} files, got ${raw.length}`,
        };
      const base = source?.kind === 'base' || source?.kind === 'patch' ? dirname(source.file) : process.cwd();
      const problems: DecodeProblem[] = [];
      const out: string[] = [];
      raw.forEach((el: unknown, i) => {
        if (typeof el !== 'string' || el === '')
          return void problems.push({
            code: 'ECONFIG_TYPE',
            reason: `must be a non-empty path string, got ${describeValue(el)}`,
            at: [i],
          });
        const path = isAbsolute(el) ? resolve(el) : resolve(base, el);
        if (out.includes(path))
          problems.push({ code: 'ECONFIG_VALUE', reason: `${describeValue(el)} is listed twice`, at: [i] });
        else out.push(path);
      });
      return decodedOrProblems(problems, () => out);
    },
    encode: (files) => `[${files.map(tomlString).join(', ')}]`,
  });
}

/** Event types beyond the built-in ones (docs/catalogue.md); absent, the built-in ones and the program's alone. */
export const catalogueSection = s
  .table({
    /** Catalogue files (TOML, `[types.NAME]` tables), read at start and at every reload. */
    files: catalogueFiles(),
  })
  .optional()
  .live();
