// banger-complete.cjs: what the launcher runs for `banger complete -- <words>`,
// the call the shell makes on every TAB. The command tree is the spec the build
// read from the full CLI (scripts/build.mjs), so this loads neither commander,
// zod nor any command module: a TAB costs Node's start and one round trip.
import { runComplete } from './run-complete.js';
import type { CompletionSpec } from './spec.js';

declare const __BANGER_COMPLETION_SPEC__: CompletionSpec;

/** Runs the completion for `argv` (process.argv form, `complete --` at 2 and 3) and exits. */
export function completeFast(argv: readonly string[]): void {
  runComplete(__BANGER_COMPLETION_SPEC__, argv.slice(4), process.env).then(
    (out) => process.stdout.write(out.endsWith('\n') ? out : `${out}\n`, () => process.exit(0)),
    (error: unknown) => {
      // The shell discards stderr; the status (banger's internal failure, docs/exit-codes.md) tells a debugging user.
      process.stderr.write(`banger: completion failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(125);
    },
  );
}
