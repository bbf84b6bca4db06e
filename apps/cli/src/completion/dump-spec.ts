// Run by scripts/build.mjs (bundled to a temp file): prints the completion spec
// of the CLI as built, which the build writes into banger-complete.cjs.
import { commandGroupEntries } from '../commands/index.js';
import { createContext } from '../context.js';
import { createProgram } from '../program.js';
import { completionSpec } from './spec.js';

const ctx = createContext({ stdout: process.stdout, stderr: process.stderr, env: {} }, new AbortController().signal);
void Promise.all(commandGroupEntries.map((entry) => entry.load())).then((groups) => {
  process.stdout.write(JSON.stringify(completionSpec(createProgram(ctx, groups))));
});
