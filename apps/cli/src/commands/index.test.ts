import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { createContext } from '../context.js';
import { commandGroupEntries, loadCommandGroups } from './index.js';

const ctx = createContext({ stdout: process.stdout, stderr: process.stderr, env: {} }, new AbortController().signal);

/** The top-level command names a set of groups registers. */
function registered(groups: Array<(program: Command, c: typeof ctx) => void>): string[] {
  const program = new Command('banger').enablePositionalOptions();
  for (const group of groups) group(program, ctx);
  return program.commands.map((c) => c.name());
}

describe('the command groups, loaded on demand', () => {
  it('each register exactly the command their entry is selected by', async () => {
    for (const entry of commandGroupEntries) expect(registered([await entry.load()])).toEqual([entry.name]);
  });

  it('load only the group the first word names', async () => {
    expect(registered(await loadCommandGroups(['node', 'banger', 'vm', 'list']))).toEqual(['vm']);
    expect(registered(await loadCommandGroups(['node', 'banger', 'ssh-config', 'show']))).toEqual(['ssh-config']);
  });

  it('load every group for help, a flag, or a word that names none (so a typo gets its suggestion)', async () => {
    const all = ['daemon', 'doctor', 'vm', 'kernel', 'image', 'ssh-config'];
    expect(registered(await loadCommandGroups(['node', 'banger']))).toEqual(all);
    expect(registered(await loadCommandGroups(['node', 'banger', '--help']))).toEqual(all);
    expect(registered(await loadCommandGroups(['node', 'banger', 'help', 'vm']))).toEqual(all);
    expect(registered(await loadCommandGroups(['node', 'banger', 'vn', 'list']))).toEqual(all);
  });
});
