// Runs the crash-test graph against a SQLite file and hangs in step "b" after
// writing partial output, so the parent test can SIGKILL it mid-step.
// argv: <db path> <work dir>
import { openDatabase } from '@banger/store';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../run.js';
import { SqliteStepStateStore } from '../sqlite-store.js';
import { crashGraph } from './crash-graph.js';

const [dbPath, dir] = process.argv.slice(2) as [string, string];
const store = new SqliteStepStateStore(openDatabase(dbPath));
const graph = crashGraph(dir, async (ctx) => {
  const temp = ctx.tempPath(join(dir, 'b.out'));
  await writeFile(temp, 'partial');
  await writeFile(join(dir, 'b.started'), String(process.pid));
  // A pending timer keeps the event loop (and so the process) alive until killed.
  await new Promise(() => setInterval(() => undefined, 1000));
  return 'never';
});
await run(graph, { graphId: 'crash:test', store });
