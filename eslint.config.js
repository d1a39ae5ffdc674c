// The linter `npm test` runs before the suite (scripts/lint.mjs): ESLint's and typescript-eslint's recommended rules,
// without type information (no program is built, so it stays quick). A rule turned off says why on its line.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const TESTS = ['packages/*/test/**', 'packages/test-support/**', 'bench/**'];

export default defineConfig(
  { ignores: ['**/dist/**', '**/node_modules/**', 'certs/**', 'test-artifacts/**', 'bench/out/**', 'bench/bin/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.{js,mjs,ts}'],
    languageOptions: { globals: globals.node },
    rules: {
      // The code names what it ignores with a leading underscore (an interface's unused argument, a field taken out
      // of a rest spread); anything else unused is a finding.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // `let timer; ... timer = setTimeout(...)` where a callback made before the assignment reads it, and
      // `let { offset, limit } = ...` where only one of the pair changes, are deliberate.
      'prefer-const': ['error', { destructuring: 'all', ignoreReadBeforeAssign: true }],
      // Off: peer-supplied names, subjects and headers are checked for control characters with regex classes on purpose.
      'no-control-regex': 'off',
    },
  },
  {
    files: TESTS,
    rules: {
      // Off in tests and bench: they read untyped JSON bodies (/varz, /connz) field by field; src keeps the rule.
      '@typescript-eslint/no-explicit-any': 'off',
      // Off in tests and bench: helpers rethrow with the caught message and the child's stderr folded into theirs,
      // which is what a failing run has to show; src keeps the rule (errors set `cause`).
      'preserve-caught-error': 'off',
    },
  },
);
