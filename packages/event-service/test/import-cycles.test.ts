// No import cycle in any workspace package's sources (issue 15): a cycle is a module that cannot be read, tested or
// loaded without the modules that depend on it. madge reads the TypeScript sources, so type-only imports and dynamic
// `import()` count as much as static ones: a cycle hidden behind either is still one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { tmpDir } from '@event-broker/test-support/tmp';

/** The part of madge's API used here (the package ships no types). */
interface MadgeGraph {
  circular(): string[][];
  warnings(): { skipped: string[] };
  obj(): Record<string, string[]>;
}
type Madge = (paths: string | string[], config: Record<string, unknown>) => Promise<MadgeGraph>;
const require = createRequire(import.meta.url);
const madge = require('madge') as Madge;

/** From dist/test/ of this package: the workspace root. */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

const MADGE_CONFIG = {
  fileExtensions: ['ts'],
  excludeRegExp: [/\.d\.ts$/],
  detectiveOptions: {
    ts: { skipTypeImports: false, skipAsyncImports: false },
    es6: { skipTypeImports: false, skipAsyncImports: false },
  },
};

/** Every workspace package's source folder (packages/*\/src and the bench). */
function sourceDirs(): string[] {
  const pkgs = fs.readdirSync(path.join(ROOT, 'packages')).map((p) => path.join(ROOT, 'packages', p, 'src'));
  return [...pkgs, path.join(ROOT, 'bench', 'src')].filter((d) => fs.existsSync(d));
}

async function cyclesIn(dir: string): Promise<{ cycles: string[][]; files: number; unresolved: string[] }> {
  const graph = await madge(dir, { ...MADGE_CONFIG, baseDir: dir });
  // A relative import madge could not resolve would drop its edges silently: only packages may be skipped.
  const unresolved = graph.warnings().skipped.filter((s) => s.startsWith('.') || s.startsWith('/'));
  return { cycles: graph.circular(), files: Object.keys(graph.obj()).length, unresolved };
}

test('the check sees a cycle made of a type-only import one way and a dynamic import the other', async (t) => {
  const dir = tmpDir(t, 'import-cycles-');
  fs.writeFileSync(
    path.join(dir, 'server.ts'),
    "import type { Handlers } from './handlers.js';\nexport class Server { handlers?: Handlers; }\n",
  );
  fs.writeFileSync(
    path.join(dir, 'handlers.ts'),
    "export class Handlers { async start() { return (await import('./server.js')).Server; } }\n",
  );
  fs.writeFileSync(
    path.join(dir, 'leaf.ts'),
    "import { Server } from './server.js';\nexport const s = new Server();\n",
  );
  const found = await cyclesIn(dir);
  assert.deepEqual(found.cycles, [['handlers.ts', 'server.ts']]);
});

test('no workspace package has an import cycle in its sources', async () => {
  const dirs = sourceDirs();
  assert.ok(dirs.length >= 4, `found ${dirs.join(', ')}`);
  const problems: string[] = [];
  for (const dir of dirs) {
    const { cycles, files, unresolved } = await cyclesIn(dir);
    const where = path.relative(ROOT, dir);
    assert.ok(files > 0, `${where}: no source file read`);
    for (const c of cycles) problems.push(`${where}: ${[...c, c[0]].join(' > ')}`);
    for (const u of unresolved) problems.push(`${where}: import not resolved: ${u}`);
  }
  assert.deepEqual(problems, []);
});
