export * from './test-upstream.js';
