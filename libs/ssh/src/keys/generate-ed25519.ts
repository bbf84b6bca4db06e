import { ssh2 } from '../load-ssh2.js';
import { InternalError } from '@banger/errors';

/**
 * An ed25519 key pair in OpenSSH format that ssh2 and OpenSSH can both load.
 * ssh2's generator writes an unreadable private key about once in 160 tries
 * ("Malformed OpenSSH private key"; `ssh-keygen -y` fails too, measured over
 * 3000 keys), so every pair is parsed back and a bad one is generated again.
 */
export function generateEd25519(comment: string): { private: string; public: string } {
  for (let attempt = 0; attempt < 16; attempt++) {
    const pair = ssh2().utils.generateKeyPairSync('ed25519', { comment });
    const parsed = ssh2().utils.parseKey(pair.private);
    if (!(parsed instanceof Error) && !Array.isArray(parsed) && parsed.getPublicSSH().toString('base64') === pair.public.split(' ')[1]) {
      return pair;
    }
  }
  throw new InternalError('SSH_KEYGEN_FAILED', 'could not generate a loadable ed25519 key in 16 tries');
}
