import { randomBytes } from 'node:crypto';
import { UserError } from '@banger/errors';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** VM names are DNS labels, because every VM is reachable as `<name>.vm`. */
export function assertVmName(name: string): void {
  if (!LABEL.test(name)) {
    throw new UserError('VM_NAME_INVALID', `invalid VM name "${name}": use 1–63 lowercase letters, digits and '-', not starting or ending with '-'`, {
      hint: 'e.g. --name sandbox',
    });
  }
}

const ADJECTIVES = ['brisk', 'calm', 'eager', 'fuzzy', 'gentle', 'jolly', 'lucky', 'mellow', 'nimble', 'plucky', 'quiet', 'rapid', 'sunny', 'tidy', 'witty', 'zesty'];
const NOUNS = ['otter', 'falcon', 'badger', 'heron', 'lynx', 'marten', 'newt', 'osprey', 'panda', 'quokka', 'raven', 'stoat', 'tapir', 'walrus', 'yak', 'zebra'];

/** A readable name for a VM created without --name, unique against `taken`. */
export function generateVmName(taken: (name: string) => boolean): string {
  for (let attempt = 0; attempt < 100; attempt++) {
    const bytes = randomBytes(4);
    const name = `${ADJECTIVES[bytes[0]! % ADJECTIVES.length]}-${NOUNS[bytes[1]! % NOUNS.length]}-${bytes.readUInt16BE(2).toString(16).padStart(4, '0')}`;
    if (!taken(name)) return name;
  }
  throw new UserError('VM_NAME_EXHAUSTED', 'could not generate a free VM name', { hint: 'pass --name' });
}
