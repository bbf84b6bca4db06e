import type { Migration } from '../migration.js';

/** VMs, images and kernels: the records every command lists. */
export const coreMigration: Migration = {
  version: 1,
  name: 'core records',
  up: `
    CREATE TABLE kernels (
      name        TEXT PRIMARY KEY,
      version     TEXT NOT NULL,
      dir         TEXT NOT NULL,
      manifest    TEXT NOT NULL,           -- JSON: the bundle manifest
      created_at  INTEGER NOT NULL
    );
    CREATE TABLE images (
      name        TEXT PRIMARY KEY,
      version     TEXT NOT NULL,
      dir         TEXT NOT NULL,
      rootfs_path TEXT NOT NULL,
      size_bytes  INTEGER NOT NULL,
      sha256      TEXT NOT NULL,
      kernel_name TEXT,
      source      TEXT NOT NULL,           -- JSON: recipe hash, bundle URL or OCI digest
      created_at  INTEGER NOT NULL
    );
    CREATE TABLE vms (
      id             TEXT PRIMARY KEY,
      name           TEXT NOT NULL UNIQUE,
      state          TEXT NOT NULL,        -- creating | running | stopped | suspended | failed
      state_reason   TEXT,
      image_name     TEXT NOT NULL,
      kernel_name    TEXT NOT NULL,
      hypervisor     TEXT NOT NULL,
      vcpu           INTEGER NOT NULL,
      memory_mib     INTEGER NOT NULL,
      disk_bytes     INTEGER NOT NULL,
      ip             TEXT,
      mac            TEXT,
      tap            TEXT,
      pid            INTEGER,
      pid_start_time TEXT,                 -- /proc/<pid>/stat field 22, so a reused pid is not adopted
      spec           TEXT NOT NULL,        -- JSON: the full creation spec
      created_at     INTEGER NOT NULL,
      updated_at     INTEGER NOT NULL
    );
  `,
};
