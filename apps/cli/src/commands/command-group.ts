import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/**
 * Adds one top-level command (or group) to the program. Each group lives in
 * `commands/<group>/index.ts` and is listed once in `commands/index.ts`.
 * Handlers throw typed errors; they never print errors or call process.exit.
 */
export type CommandGroup = (program: Command, ctx: CliContext) => void;
