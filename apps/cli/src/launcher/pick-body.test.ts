import { describe, expect, it } from 'vitest';
import { bodyFor, type BodyInfo, type BodyTable } from './pick-body.js';

const body = (name: string): BodyInfo => ({ file: `banger-${name}.cjs`, name, hash: '0123456789abcdef', encoding: 'latin1' });
const bodies: BodyTable = { '': body('cli'), vm: body('cli-vm'), 'ssh-config': body('cli-ssh-config') };
const argv = (...words: string[]): string[] => ['/usr/bin/node', '/usr/lib/banger/banger.cjs', ...words];

describe('the body the launcher runs', () => {
  it('is the group body when the first word names a group', () => {
    expect(bodyFor(bodies, argv('vm', 'list')).name).toBe('cli-vm');
    expect(bodyFor(bodies, argv('ssh-config', 'show')).name).toBe('cli-ssh-config');
    expect(bodyFor(bodies, argv('vm')).name).toBe('cli-vm');
  });

  it('is the whole CLI for no words, a flag, help, or a word that names no group', () => {
    for (const words of [[], ['--version'], ['help', 'vm'], ['vn', 'list'], [''], ['-h']]) expect(bodyFor(bodies, argv(...words)).name).toBe('cli');
  });

  it("is the whole CLI for words that are Object.prototype's keys", () => {
    for (const word of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) expect(bodyFor(bodies, argv(word)).name).toBe('cli');
  });
});
