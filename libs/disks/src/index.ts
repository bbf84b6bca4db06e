export * from './debugfs.js';
export * from './install-host-key.js';
export * from './file-sync.js';
export * from './stage-work-disk.js';
export * from './make-work-disk.js';
