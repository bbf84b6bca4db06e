import type { BangerConfig } from './types.js';

/** Marks a config that was not read from any file. */
export const DEFAULTS_SOURCE = '(defaults)';

/** The values banger uses for every key the user leaves out. */
export const CONFIG_DEFAULTS = {
  defaultImageName: 'debian-bookworm',
  defaultKernelName: 'debian-cloud',
  hypervisor: 'auto',
  bridgeName: 'banger0',
  bridgeSubnet: '172.16.0.0/24',
} as const satisfies Partial<BangerConfig>;

/** A config with every default and no file behind it. */
export function defaultConfig(): BangerConfig {
  return { ...CONFIG_DEFAULTS, vmDefaults: {}, fileSync: [], source: DEFAULTS_SOURCE };
}
