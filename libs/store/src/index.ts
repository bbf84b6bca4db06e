export * from './migration.js';
export * from './migrations/index.js';
export * from './open-database.js';
