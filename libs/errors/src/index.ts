export * from './exit-codes.js';
export * from './codes.js';
export * from './banger-error.js';
export * from './wire.js';
export * from './format.js';
