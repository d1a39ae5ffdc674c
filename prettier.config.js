// The formatter's settings, read off the code as it was written: 120 columns, two spaces, single quotes, semicolons,
// trailing commas wherever a list spans lines. `npm run format:check` checks; `npm test` checks only once
// package.json's config.formatCheck is true (scripts/lint.mjs).
export default {
  printWidth: 120,
  tabWidth: 2,
  useTabs: false,
  semi: true,
  singleQuote: true,
  quoteProps: 'as-needed',
  trailingComma: 'all',
  bracketSpacing: true,
  arrowParens: 'always',
  endOfLine: 'lf',
};
