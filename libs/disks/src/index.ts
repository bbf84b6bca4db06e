// debugfs moved to the host toolkit; re-exported for the VM layer, which reaches it through this lib.
export { debugfsQuote, parseDebugfsStat, readImageFile, runDebugfs, runDebugfsScript, statInode, type Ext4Inode } from '@banger/host';
export * from './install-host-key.js';
export * from './file-sync.js';
export * from './stage-work-disk.js';
export * from './make-work-disk.js';
