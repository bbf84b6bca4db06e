export * from './migration.js';
export * from './migrations/index.js';
export * from './open-database.js';
export * from './tables/images.js';
export * from './tables/kernels.js';
export * from './tables/ip-leases.js';
export * from './tables/step-state.js';
export * from './tables/vms.js';
