export * from './zone.js';
export * from './server.js';
export * from './resolved-wiring.js';
export * from './forwarder.js';
export * from './upstreams.js';
export * from './rate-limit.js';
