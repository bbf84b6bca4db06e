export * from './vm-dir.js';
export * from './vm-name.js';
export * from './clone-rootfs.js';
