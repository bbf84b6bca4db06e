// The installed banger.js: a few kB that run the CLI body beside it
// (banger-cli.cjs) through V8's code cache. Built by apps/cli/scripts/build.mjs,
// which sets the body's hash and encoding.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBody } from './run-body.js';

declare const __BANGER_BODY_HASH__: string;
declare const __BANGER_BODY_ENCODING__: 'latin1' | 'utf8';

runBody(join(dirname(fileURLToPath(import.meta.url)), 'banger-cli.cjs'), __BANGER_BODY_HASH__, __BANGER_BODY_ENCODING__, process.env);
