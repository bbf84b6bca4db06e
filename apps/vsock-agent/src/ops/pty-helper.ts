import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UserError } from '@banger/errors';
import type { ExecRequest } from '@banger/agent';

/**
 * Where banger-pty is: `../bin/banger-pty` from the bundle on the runtime
 * disk (`agent/banger-vsock-agent.mjs`), or beside the bundle (the build
 * output `apps/vsock-agent/dist/`, tests).
 */
export function ptyHelperPath(): string | undefined {
  for (const relative of ['../bin/banger-pty', './banger-pty']) {
    const path = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(path)) return path;
  }
  return undefined;
}

const dimension = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;

/** The helper's command line for a pty request (its interface: docs/agent.md, "The PTY helper"); the control pipe is fd 3. */
export function ptyCommand(request: ExecRequest & { pty: NonNullable<ExecRequest['pty']> }): { file: string; args: string[] } {
  const { cols, rows } = request.pty;
  if (!dimension(cols) || !dimension(rows)) throw new UserError('AGENT_BAD_REQUEST', `guest agent: a pty needs cols and rows from 1 to 65535, got ${JSON.stringify({ cols, rows })}`);
  const file = ptyHelperPath();
  if (!file)
    throw new UserError('AGENT_PTY_UNSUPPORTED', 'guest agent: no banger-pty beside the agent, so it cannot run a command on a pseudo-terminal', {
      hint: 'restart the VM so it gets the runtime disk of this banger (with bin/banger-pty)',
    });
  return { file, args: ['--rows', String(rows), '--cols', String(cols), '--control-fd', '3', '--', ...request.argv] };
}

/** A resize as the helper's control line ("R C\n"); undefined for a bad size (ignored). */
export function resizeLine(cols: unknown, rows: unknown): string | undefined {
  return dimension(cols) && dimension(rows) ? `${rows} ${cols}\n` : undefined;
}
