import type { CommandGroup } from './command-group.js';

/** A top-level command group, by the word that selects it, loaded on demand. */
export interface CommandGroupEntry {
  name: string;
  load: () => Promise<CommandGroup>;
}

/**
 * Every top-level command group, in help order. A new group (vm, image,
 * kernel…) adds `commands/<group>/index.ts` exporting a CommandGroup and one
 * entry here. Resource-name arguments use nameArgument()/nameOption() from
 * completion/resource-names.ts so shell completion lists live names.
 */
export const commandGroupEntries: readonly CommandGroupEntry[] = [
  { name: 'daemon', load: async () => (await import('./daemon/index.js')).daemonCommands },
  { name: 'doctor', load: async () => (await import('./doctor/index.js')).doctorCommand },
  { name: 'vm', load: async () => (await import('./vm/index.js')).vmCommands },
  { name: 'kernel', load: async () => (await import('./kernel/index.js')).kernelCommands },
  { name: 'image', load: async () => (await import('./image/index.js')).imageCommands },
  { name: 'ssh-config', load: async () => (await import('./ssh-config/index.js')).sshConfigCommands },
];

/**
 * The groups a run needs: only the one its first word names (`banger vm list`
 * evaluates none of the image, kernel, doctor… modules: issue #19, every
 * read-only command and every TAB paid for all of them), or every group when
 * the first word names none (help, `--version`, completion, a typo that
 * deserves a suggestion).
 */
export function loadCommandGroups(argv: readonly string[]): Promise<CommandGroup[]> {
  const named = commandGroupEntries.find((entry) => entry.name === argv[2]);
  return Promise.all((named ? [named] : commandGroupEntries).map((entry) => entry.load()));
}
