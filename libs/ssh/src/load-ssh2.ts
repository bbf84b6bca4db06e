import { createRequire } from 'node:module';
import type * as Ssh2 from 'ssh2';

const requireFromHere = createRequire(import.meta.url);
let loaded: typeof Ssh2 | undefined;

/**
 * ssh2 and the crypto it sets up cost ~70 ms of every CLI start when imported
 * statically, and most commands never open an ssh connection. Loading it on
 * first use keeps `banger vm list` and tab completion from paying for it.
 * A plain require (not `import()`) so the key helpers can stay synchronous.
 */
export function ssh2(): typeof Ssh2 {
  loaded ??= requireFromHere('ssh2') as typeof Ssh2;
  return loaded;
}
