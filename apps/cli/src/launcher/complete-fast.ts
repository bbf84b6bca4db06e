/**
 * The shell's call on every TAB (`banger complete -- <words>`), answered by
 * banger-complete.cjs without loading the CLI body (completion/fast-entry.ts).
 * Returns false for any other command, or when that file is missing (an
 * install from before it existed): the body answers completion too, slower.
 */
export function completeFastOrFalse(completerFile: string, argv: readonly string[]): boolean {
  if (argv[2] !== 'complete' || argv[3] !== '--') return false;
  let completer: { completeFast(argv: readonly string[]): void };
  try {
    completer = require(completerFile) as typeof completer;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((error as Error).message).includes(completerFile)) return false;
    throw error;
  }
  completer.completeFast(argv);
  return true;
}
