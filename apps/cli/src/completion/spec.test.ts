import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import type { NameKind } from '@banger/api';
import { completeWords, type NamesSource } from './complete-words.js';
import { nameArgument, nameOption } from './resource-names.js';
import { completionSpec } from './spec.js';

/** A small tree with every kind of slot completion knows about. */
function program(): Command {
  const root = new Command('banger').option('-q, --quiet', 'say less');
  const vm = root.command('vm').description('manage VMs');
  vm.command('show').description('show a VM').addArgument(nameArgument('vm', '<name>', 'the VM'));
  vm.command('create')
    .description('create a VM')
    .addOption(nameOption('image', '--image <name>', 'image to boot'))
    .addOption(new Option('--hypervisor <kind>', 'driver').choices(['qemu', 'firecracker']))
    .option('-c, --cpus <n>', 'vCPUs')
    .option('--force', 'replace it');
  vm.command('exec').description('run a command').addArgument(nameArgument('vm', '<name>', 'the VM')).argument('[cmd...]', 'the command');
  root.command('secret', { hidden: true }).description('not for users');
  return root;
}

/** Names a daemon would answer, and the kinds and scopes asked for. */
function names(known: Partial<Record<NameKind, string[]>>): NamesSource & { asked: Array<{ kinds: NameKind[]; scope: { vm?: string } }> } {
  const asked: Array<{ kinds: NameKind[]; scope: { vm?: string } }> = [];
  const source = async (kinds: NameKind[], scope: { vm?: string }) => {
    asked.push({ kinds, scope });
    return new Map(kinds.map((kind) => [kind, known[kind] ?? []]));
  };
  return Object.assign(source, { asked });
}

describe('the completion spec of a command tree', () => {
  it('lists visible commands by path with their options and arguments, and leaves hidden commands out', () => {
    const spec = completionSpec(program());
    // commander's implicit `help` commands are visible, as in `banger help`.
    expect(spec.commands.map((c) => c.path)).toEqual(['', 'vm', 'vm show', 'vm create', 'vm exec', 'vm help', 'help']);
    const create = spec.commands.find((c) => c.path === 'vm create')!;
    expect(create.options).toEqual(
      expect.arrayContaining([
        { long: 'image', description: 'image to boot', takesValue: true, kind: 'image' },
        { long: 'hypervisor', description: 'driver', takesValue: true, choices: ['qemu', 'firecracker'] },
        { long: 'cpus', short: 'c', description: 'vCPUs', takesValue: true },
        { long: 'force', description: 'replace it', takesValue: false },
      ]),
    );
    expect(spec.commands.find((c) => c.path === 'vm exec')!.arguments).toEqual([
      { name: 'name', variadic: false, kind: 'vm' },
      { name: 'cmd', variadic: true },
    ]);
  });

  it('survives a JSON round trip, as the build writes it into banger-complete.cjs', () => {
    const spec = completionSpec(program());
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });
});

describe('completing words from a spec', () => {
  const spec = completionSpec(program());
  const lines = (out: string): string[] => out.split('\n');

  it('completes subcommands by prefix and ends with the no-file directive', async () => {
    expect(lines(await completeWords(spec, ['vm', 'sh'], names({})))).toEqual(['show\tshow a VM', ':4']);
  });

  it('asks for live names only where the cursor wants them', async () => {
    const source = names({ vm: ['api', 'sandbox', 'scratch'], image: ['debian-bookworm'] });
    expect(lines(await completeWords(spec, ['vm', 'show', 's'], source))).toEqual(['sandbox\tvm', 'scratch\tvm', ':4']);
    expect(lines(await completeWords(spec, ['vm', 'create', '--image', ''], source))).toEqual(['debian-bookworm\timage', ':4']);
    expect(source.asked.map((a) => a.kinds)).toEqual([['vm'], ['image']]);
    // A subcommand or a flag needs no daemon.
    await completeWords(spec, ['vm', ''], source);
    await completeWords(spec, ['vm', 'create', '--f'], source);
    expect(source.asked).toHaveLength(2);
  });

  it('lists an option value from its choices and flags from the command, short ones too', async () => {
    expect(lines(await completeWords(spec, ['vm', 'create', '--hypervisor', ''], names({})))).toEqual(['qemu\t', 'firecracker\t', ':4']);
    expect(lines(await completeWords(spec, ['vm', 'create', '-'], names({})))).toEqual(expect.arrayContaining(['-c\tvCPUs']));
    expect(lines(await completeWords(spec, ['vm', 'create', '--'], names({})))).toEqual(
      expect.arrayContaining(['--image\timage to boot', '--hypervisor\tdriver', '--cpus\tvCPUs', '--force\treplace it']),
    );
  });

  it('never offers a hidden command', async () => {
    expect(await completeWords(spec, ['se'], names({}))).toBe(':4');
  });
});
