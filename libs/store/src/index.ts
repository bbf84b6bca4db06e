export * from './migration.js';
export * from './migrations/index.js';
export * from './open-database.js';
export * from './tables/images.js';
export * from './tables/kernels.js';
