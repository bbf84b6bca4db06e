import { BangerError } from './banger-error.js';

/**
 * The single line a user sees: `banger: <what failed>: <why> (hint: …)`.
 * With `debug` the cause chain and stacks follow on the next lines.
 */
export function formatError(error: unknown, options: { program?: string; debug?: boolean } = {}): string {
  const program = options.program ?? 'banger';
  const message = error instanceof Error ? error.message : String(error);
  const hint = error instanceof BangerError && error.hint ? ` (hint: ${error.hint})` : '';
  const line = `${program}: ${oneLine(message)}${hint}`;
  if (!options.debug) return line;
  const extra: string[] = [];
  let current: unknown = error;
  while (current instanceof Error) {
    if (current.stack) extra.push(current.stack);
    const remote = (current as { remoteCauses?: string[] }).remoteCauses;
    if (remote) extra.push(...remote.map((m) => `caused by (daemon): ${m}`));
    current = current.cause;
    if (current !== undefined && !(current instanceof Error)) extra.push(`caused by: ${String(current)}`);
  }
  return [line, ...extra].join('\n');
}

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, '; ').trim();
