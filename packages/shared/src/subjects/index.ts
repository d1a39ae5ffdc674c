// Subjects: what a valid subject is, wildcard matching, and the subscription index the broker routes through.
export * from './validate.js';
export * from './sublist.js';
