import type { Migration } from '../migration.js';
import { coreMigration } from './001-core.js';
import { stepStateMigration } from './002-step-state.js';
import { ipLeaseMigration } from './003-ip-leases.js';

/** Every schema change, oldest first. Append only: never edit one that has shipped. */
export const migrations: readonly Migration[] = [coreMigration, stepStateMigration, ipLeaseMigration];
