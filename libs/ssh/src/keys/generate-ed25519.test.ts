import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { generateEd25519 } from './generate-ed25519.js';

const { utils } = ssh2;

describe('generateEd25519', () => {
  it('only returns keys that load back, even over enough tries to hit the generator bug', () => {
    // ssh2 writes a malformed key about once in 160; 1 000 tries hit it with near certainty.
    for (let i = 0; i < 1000; i++) {
      const pair = generateEd25519(`t${i}`);
      expect(utils.parseKey(pair.private)).not.toBeInstanceOf(Error);
      expect(pair.public).toMatch(new RegExp(`^ssh-ed25519 [A-Za-z0-9+/=]+ t${i}$`));
    }
  });
});
