// Dependencies declared where imported, and only there (issue 15): scripts/check-deps.mjs passes over the workspace,
// and it does catch each kind of mistake, shown on a small workspace made for the purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from '@event-broker/test-support/tmp';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const SCRIPT = path.join(ROOT, 'scripts', 'check-deps.mjs');

function checkDeps(root: string): { status: number | null; out: string } {
  const res = spawnSync(process.execPath, [SCRIPT, root], { encoding: 'utf8', timeout: 60_000 });
  return { status: res.status, out: `${res.stdout}${res.stderr}` };
}

function write(root: string, files: Record<string, string | object>): void {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(root, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
}

test('every workspace package imports what it declares and declares what it imports', () => {
  const { status, out } = checkDeps(ROOT);
  assert.equal(status, 0, out);
  assert.match(out, /every import declared, every declaration imported/);
});

test('the check names an undeclared import, an unused dependency, a test-only dependency and a stray root one', (t) => {
  const root = tmpDir(t);
  write(root, {
    'pnpm-workspace.yaml': 'packages:\n  - "packages/*"\n',
    'package.json': { name: 'fixture', private: true, devDependencies: { typescript: '*', leftover: '1' } },
    'packages/a/package.json': {
      name: '@fixture/a',
      dependencies: { unused: '1', 'test-only': '1', declared: '1' },
      devDependencies: { 'dev-unused': '1', '@types/declared': '1' },
    },
    'packages/a/dist/src/index.js':
      "import x from 'declared';\nimport { y } from 'undeclared/sub';\nexport * from './self.js';\n" +
      "// import z from 'in-a-comment';\nconst s = \"import w from 'in-a-string'\";\n" +
      "export const lazy = () => import('@scope/lazy');\nexport const named = require.resolve('by-name');\n",
    'packages/a/dist/test/a.test.js':
      "import 'node:test';\nimport fs from 'fs';\nimport t from 'test-only';\nimport u from 'test-undeclared';\n",
    'packages/b/package.json': {
      name: '@fixture/b',
      dependencies: { '@fixture/a': 'workspace:*' },
      devDependencies: { dev: '1' },
    },
    'packages/b/dist/src/index.js': "export * from '@fixture/a';\n",
    'packages/b/dist/test/b.test.js': "import d from 'dev';\nimport self from '@fixture/b';\n",
  });
  const { status, out } = checkDeps(root);
  assert.equal(status, 1, out);
  const lines = out.trim().split('\n').sort();
  assert.deepEqual(lines, [
    'check-deps: package.json: leftover is neither a tool run by name (scripts/check-deps.mjs ROOT_TOOLS) nor imported by scripts/, dev/ or a config: declare it in the package that imports it',
    'check-deps: packages/a/package.json: @scope/lazy is imported by packages/a/dist/src/index.js but not in dependencies',
    'check-deps: packages/a/package.json: by-name is imported by packages/a/dist/src/index.js but not in dependencies',
    'check-deps: packages/a/package.json: dependency test-only is imported by no file of dist/src or bin (only tests do: make it a devDependency)',
    'check-deps: packages/a/package.json: dependency unused is imported by no file of dist/src or bin',
    'check-deps: packages/a/package.json: devDependency dev-unused is imported by no file',
    'check-deps: packages/a/package.json: test-undeclared is imported by packages/a/dist/test/a.test.js but not in devDependencies',
    'check-deps: packages/a/package.json: undeclared is imported by packages/a/dist/src/index.js but not in dependencies',
  ]);
});
