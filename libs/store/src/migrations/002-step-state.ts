import type { Migration } from '../migration.js';

/** Task-graph step state per (graph instance, step): what makes re-runs skip or resume. */
export const stepStateMigration: Migration = {
  version: 2,
  name: 'task graph step state',
  up: `
    CREATE TABLE step_state (
      graph_id    TEXT NOT NULL,           -- e.g. "vm:sandbox" or "image-build:debian-minimal"
      step_id     TEXT NOT NULL,           -- dotted id, e.g. "vm.boot"
      fingerprint TEXT NOT NULL,
      status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
      started_at  INTEGER,
      finished_at INTEGER,
      duration_ms INTEGER,
      error       TEXT,                    -- JSON WireError when failed
      outputs     TEXT,                    -- JSON outputs of the step when succeeded
      PRIMARY KEY (graph_id, step_id)
    );
  `,
};
