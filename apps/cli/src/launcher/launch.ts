// The installed banger.cjs: a few kB that run a CLI body beside it through
// V8's code cache. Built by apps/cli/scripts/build.mjs as CommonJS, which sets
// the bodies' names, hashes and encodings: a CommonJS entry skips Node's ESM
// loader (resolving, translating, and the `node:fs` facade, whose getters load
// fs streams), ≈ 10 ms of every start.
import { join } from 'node:path';
import { completeFastOrFalse } from './complete-fast.js';
import { bodyFor, type BodyTable } from './pick-body.js';
import { runBody } from './run-body.js';

declare const __BANGER_BODIES__: BodyTable;

if (!completeFastOrFalse(join(__dirname, 'banger-complete.cjs'), process.argv)) {
  const body = bodyFor(__BANGER_BODIES__, process.argv);
  runBody(join(__dirname, body.file), body, process.env);
}
