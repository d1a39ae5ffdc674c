// What the HTTP-speaking listeners (WebSocket, monitoring, the event feed) check about the browser on the other
// end: the page's Origin, the Host it used (DNS rebinding), and the settings that configure both.
export * from './origin.js';
export * from './host-check.js';
export * from './settings.js';
