// Public entry of the dev-only package: what `npm start`, dev/mint-token.mjs, the tests and the bench use to make
// certificates and tokens. Never a dependency of a runtime package.
export * from './dev-pki.js';
