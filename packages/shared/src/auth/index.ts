// Bearer token verification shared by the gateway's [auth] and the event service's [intake.http.auth].
export * from './keys.js';
export * from './key-check.js';
export * from './decoders.js';
export * from './settings.js';
export * from './verify.js';
