import type { DebianSource } from '@banger/host';
import type { BangerConfig } from './types.js';

/** The `debian_mirror` / `debian_keyring` pair kernel and image builds download with; unset keys keep the defaults. */
export const debianSource = (config: Pick<BangerConfig, 'debianMirror' | 'debianKeyring'>): DebianSource => ({
  ...(config.debianMirror ? { mirror: config.debianMirror } : {}),
  ...(config.debianKeyring ? { keyring: config.debianKeyring } : {}),
});
