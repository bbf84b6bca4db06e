import type { Migration } from '../migration.js';

/** Guest addresses leased from the bridge subnet; the primary key makes a lease unique under concurrency. */
export const ipLeaseMigration: Migration = {
  version: 3,
  name: 'ip leases',
  up: `
    CREATE TABLE ip_leases (
      subnet     TEXT NOT NULL,            -- CIDR, e.g. 172.16.0.0/24
      ip         TEXT NOT NULL,
      owner      TEXT NOT NULL,            -- VM id
      leased_at  INTEGER NOT NULL,
      PRIMARY KEY (subnet, ip),
      UNIQUE (subnet, owner)
    );
  `,
};
