// Run by scripts/build.mjs (bundled to a temp file): prints the completion spec
// of the CLI as built, which the build writes into banger-complete.cjs.
import { createContext } from '../context.js';
import { createProgram } from '../program.js';
import { completionSpec } from './spec.js';

const ctx = createContext({ stdout: process.stdout, stderr: process.stderr, env: {} }, new AbortController().signal);
process.stdout.write(JSON.stringify(completionSpec(createProgram(ctx))));
