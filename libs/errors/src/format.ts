import { BangerError } from './banger-error.js';

/**
 * The single line a user sees: `banger: <what failed>: <why> (hint: …)`.
 * With `debug` the cause chain and stacks follow on the next lines.
 */
export function formatError(error: unknown, options: { program?: string; debug?: boolean } = {}): string {
  const program = options.program ?? 'banger';
  const message = error instanceof Error ? error.message : String(error);
  const hint = error instanceof BangerError && error.hint ? ` (hint: ${visible(oneLine(error.hint))})` : '';
  const line = `${program}: ${visible(oneLine(message))}${hint}`;
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

/**
 * Control characters shown as escapes: a message often quotes what the user
 * (or a guest, or a registry) typed, and raw ESC or BEL bytes in it could
 * recolour the terminal, rewrite its title or hide the rest of the line.
 */
const visible = (text: string): string =>
  // eslint-disable-next-line no-control-regex
  text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
