export * from './version.js';
export * from './method.js';
export * from './methods/index.js';
export * from './protocol/envelope.js';
export * from './protocol/line-splitter.js';
export * from './server.js';
export * from './client.js';
