// What the HTTP-speaking ports (WebSocket, monitoring, the event feed) check about the browser on the other
// end: the page's Origin, the Host it used (DNS rebinding), and the settings that configure both; and the router
// the monitoring port and the APIs served on it share.
export * from './origin.js';
export * from './host-check.js';
export * from './settings.js';
export * from './router.js';
