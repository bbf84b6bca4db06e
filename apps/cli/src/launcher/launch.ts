// The installed banger.cjs: a few kB that run the CLI body beside it
// (banger-cli.cjs) through V8's code cache. Built by apps/cli/scripts/build.mjs
// as CommonJS, which sets the body's hash and encoding: a CommonJS entry skips
// Node's ESM loader (resolving, translating, and the `node:fs` facade, whose
// getters load fs streams), ≈ 10 ms of every start.
import { join } from 'node:path';
import { runBody } from './run-body.js';

declare const __BANGER_BODY_HASH__: string;
declare const __BANGER_BODY_ENCODING__: 'latin1' | 'utf8';

runBody(join(__dirname, 'banger-cli.cjs'), __BANGER_BODY_HASH__, __BANGER_BODY_ENCODING__, process.env);
