export * from './progress.js';
export * from './which.js';
export * from './packages.js';
export * from './exec.js';
export * from './privileged.js';
export * from './facts.js';
export * from './debian.js';
export * from './pid-exists.js';
export { writeFileAtomic } from './write-file-atomic.js';
