// The version advertised in INFO (`version`, semver: nats.js refuses anything else), in the leaf CONNECT upstream
// and printed by the CLI.
export const VERSION = '0.1.0';
