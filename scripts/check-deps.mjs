#!/usr/bin/env node
// Dependencies declared where imported, and only there: for every workspace package, the bare imports of its
// compiled code (dist/src and bin: what ships; dist/test: what its tests load) against its package.json. Scans the
// compiled JavaScript, not the TypeScript, so type-only imports (erased at build) do not count as runtime use.
// The root package.json holds only the tools run by name (ROOT_TOOLS) and what the root's own scripts import.
// usage: node scripts/check-deps.mjs [ROOT]   prints each problem, exits 1 when there is one. Run after the build.
import { builtinModules, createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Root devDependencies that no code imports: they are run (tsc, eslint, prettier, c8) or read by the compiler. */
export const ROOT_TOOLS = new Set([
  'typescript',
  '@types/node',
  'eslint',
  '@eslint/js',
  'typescript-eslint',
  'globals',
  'prettier',
  'c8',
]);

const BUILTIN = new Set(builtinModules);
const require = createRequire(import.meta.url);

/** The package a bare specifier names (`@scope/name/sub` -> `@scope/name`), or undefined for relative and builtins. */
export function packageOf(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return BUILTIN.has(name) ? undefined : name;
}

/**
 * The bare packages one JavaScript file loads: static and dynamic imports, re-exports, `require(...)`, the package named to
 * `require.resolve(...)` or `import.meta.resolve(...)` (how a worker or a pino transport is named without an import),
 * and in declarations `import("x").T`. Walks TypeScript's syntax tree, so comments and strings never count.
 */
export function importsOf(text, ts) {
  const names = new Set();
  const add = (node) => {
    if (node !== undefined && ts.isStringLiteralLike(node)) {
      const p = packageOf(node.text);
      if (p) names.add(p);
    }
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const resolves =
        ts.isPropertyAccessExpression(callee) &&
        callee.name.text === 'resolve' &&
        ((ts.isIdentifier(callee.expression) && callee.expression.text === 'require') ||
          ts.isMetaProperty(callee.expression) ||
          // createRequire(import.meta.url).resolve('x'), as log.ts names the pretty-printing transport
          (ts.isCallExpression(callee.expression) &&
            ts.isIdentifier(callee.expression.expression) &&
            callee.expression.expression.text === 'createRequire'));
      const required = ts.isIdentifier(callee) && callee.text === 'require'; // createRequire(...) for a CommonJS package
      if (callee.kind === ts.SyntaxKind.ImportKeyword || resolves || required) add(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile('file.ts', text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS));
  return names;
}

function jsFiles(dir, out = [], pattern = /\.m?js$/) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) jsFiles(p, out, pattern);
    else if (pattern.test(entry.name)) out.push(p);
  }
  return out;
}

/** Package name -> the files (relative to root) importing it, over `files`. */
function usage(root, files, ts) {
  const used = new Map();
  for (const file of files) {
    for (const name of importsOf(fs.readFileSync(file, 'utf8'), ts)) {
      if (!used.has(name)) used.set(name, []);
      used.get(name).push(path.relative(root, file));
    }
  }
  return used;
}

/** The workspace's package directories, from pnpm-workspace.yaml's `packages:` globs (`dir/*` or `dir`). */
export function workspaceDirs(root) {
  const yaml = fs.readFileSync(path.join(root, 'pnpm-workspace.yaml'), 'utf8');
  const globs = [...yaml.matchAll(/^\s*-\s*["']?([^"'\n]+?)["']?\s*$/gm)].map((m) => m[1]);
  const dirs = [];
  for (const g of globs) {
    if (g.endsWith('/*')) {
      const parent = path.join(root, g.slice(0, -2));
      for (const name of fs.existsSync(parent) ? fs.readdirSync(parent).sort() : []) {
        if (fs.existsSync(path.join(parent, name, 'package.json'))) dirs.push(path.join(parent, name));
      }
    } else if (fs.existsSync(path.join(root, g, 'package.json'))) {
      dirs.push(path.join(root, g));
    }
  }
  return dirs;
}

/** True when the installed package `name`, as `dir` resolves it, carries its own type declarations. */
function bundlesTypes(dir, name) {
  for (let d = dir; ; d = path.dirname(d)) {
    const manifest = path.join(d, 'node_modules', name, 'package.json');
    if (fs.existsSync(manifest)) {
      const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8'));
      return (
        Boolean(pkg.types ?? pkg.typings) ||
        JSON.stringify(pkg.exports ?? {}).includes('"types"') ||
        fs.existsSync(path.join(path.dirname(manifest), 'index.d.ts'))
      );
    }
    if (path.dirname(d) === d) return false;
  }
}

function typesFor(name) {
  return name.startsWith('@') ? `@types/${name.slice(1).replace('/', '__')}` : `@types/${name}`;
}

/**
 * Every problem found, one line each. Per package: a runtime import (dist/src, bin) not in dependencies (or peer or
 * optional dependencies); a test import in none of them nor devDependencies; a dependency no runtime file imports;
 * a devDependency no file imports, unless it is the `@types/` package of one that is imported.
 */
export function dependencyProblems(root, ts) {
  const problems = [];
  const dirs = workspaceDirs(root);
  if (dirs.length === 0) problems.push('pnpm-workspace.yaml: no packages found');
  for (const dir of dirs) {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const where = path.relative(root, path.join(dir, 'package.json'));
    const runtimeFiles = [...jsFiles(path.join(dir, 'dist', 'src')), ...jsFiles(path.join(dir, 'bin'))];
    const testFiles = jsFiles(path.join(dir, 'dist', 'test'));
    if (runtimeFiles.length + testFiles.length === 0) {
      problems.push(`${where}: no compiled files under dist/ (build first)`);
      continue;
    }
    const runtime = usage(root, runtimeFiles, ts);
    const tests = usage(root, testFiles, ts);
    // What a TypeScript consumer of the shipped declarations loads: those packages, or their @types, ship too.
    const typings = usage(root, jsFiles(path.join(dir, 'dist', 'src'), [], /\.d\.ts$/), ts);
    const deps = new Set([
      ...Object.keys(pkg.dependencies ?? {}),
      ...Object.keys(pkg.peerDependencies ?? {}),
      ...Object.keys(pkg.optionalDependencies ?? {}),
    ]);
    const dev = new Set(Object.keys(pkg.devDependencies ?? {}));
    for (const [name, files] of runtime) {
      if (name === pkg.name || deps.has(name)) continue;
      const also = dev.has(name) ? ' (it is a devDependency: what ships needs it at run time)' : '';
      problems.push(`${where}: ${name} is imported by ${files[0]} but not in dependencies${also}`);
    }
    for (const [name, files] of typings) {
      if (name === pkg.name) continue;
      if (!deps.has(name))
        problems.push(`${where}: ${name} is named by ${files[0]} (shipped types) but not in dependencies`);
      else if (!bundlesTypes(dir, name) && !deps.has(typesFor(name))) {
        problems.push(
          `${where}: ${name} ships no types and ${files[0]} names it: ${typesFor(name)} belongs in dependencies`,
        );
      }
    }
    for (const [name, files] of tests) {
      if (name === pkg.name || deps.has(name) || dev.has(name)) continue;
      problems.push(`${where}: ${name} is imported by ${files[0]} but not in devDependencies`);
    }
    for (const name of Object.keys(pkg.dependencies ?? {})) {
      if (runtime.has(name)) continue;
      if (name.startsWith('@types/') && [...typings.keys()].some((n) => typesFor(n) === name)) continue;
      const also = tests.has(name) ? ' (only tests do: make it a devDependency)' : '';
      problems.push(`${where}: dependency ${name} is imported by no file of dist/src or bin${also}`);
    }
    for (const name of dev) {
      if (runtime.has(name) || tests.has(name)) continue;
      const typed = [...runtime.keys(), ...tests.keys()].some((n) => typesFor(n) === name);
      if (!typed) problems.push(`${where}: devDependency ${name} is imported by no file`);
    }
  }
  const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const rootUse = usage(root, [...jsFiles(path.join(root, 'scripts')), ...jsFiles(path.join(root, 'dev'))], ts);
  for (const cfg of ['eslint.config.js', 'prettier.config.js']) {
    if (fs.existsSync(path.join(root, cfg))) {
      for (const [name, files] of usage(root, [path.join(root, cfg)], ts)) rootUse.set(name, files);
    }
  }
  const rootDeclared = new Set([
    ...Object.keys(rootPkg.dependencies ?? {}),
    ...Object.keys(rootPkg.devDependencies ?? {}),
  ]);
  for (const name of rootDeclared) {
    if (!ROOT_TOOLS.has(name) && !rootUse.has(name)) {
      problems.push(
        `package.json: ${name} is neither a tool run by name (scripts/check-deps.mjs ROOT_TOOLS) nor imported by scripts/, dev/ or a config: declare it in the package that imports it`,
      );
    }
  }
  for (const [name, files] of rootUse) {
    if (
      !rootDeclared.has(name) &&
      !dirs.some((d) => JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')).name === name)
    ) {
      problems.push(`package.json: ${name} is imported by ${files[0]} but not declared`);
    }
  }
  return problems;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
  const ts = require('typescript'); // the workspace's own compiler, whatever ROOT is checked
  const problems = dependencyProblems(root, ts);
  for (const p of problems) console.error(`check-deps: ${p}`);
  if (problems.length === 0)
    console.log(
      `check-deps: ${workspaceDirs(root).length} packages, every import declared, every declaration imported`,
    );
  process.exit(problems.length === 0 ? 0 : 1);
}
