export * from './guest-exec.js';
export * from './list-files.js';
export * from './manifest.js';
export * from './manifest-file.js';
export * from './sync.js';
export * from './git-branch.js';
export * from './mise/bootstrap.js';
