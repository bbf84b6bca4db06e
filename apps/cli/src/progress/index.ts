export * from './renderer.js';
export * from './pick-mode.js';
export * from './create-renderer.js';
export { formatBytes, formatProgress } from './format.js';
