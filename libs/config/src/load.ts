import { readFileSync } from 'node:fs';
import { UserError } from '@banger/errors';
import { DEFAULTS_SOURCE, defaultConfig } from './defaults.js';
import { parseConfig, type ParseConfigOptions } from './parse.js';
import type { BangerConfig } from './types.js';

/**
 * Reads and validates the config file (synchronously: the CLI and daemon
 * need it before anything else runs). A missing file means all defaults,
 * with `source` set to `(defaults)`; any other read error or invalid content
 * is a UserError with a CONFIG_* code, so nothing starts with a bad config.
 */
export function loadConfig(paths: { configFile: string }, options: ParseConfigOptions = {}): BangerConfig {
  let text: string;
  try {
    text = readFileSync(paths.configFile, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return defaultConfig();
    throw new UserError('CONFIG_UNREADABLE', `cannot read ${paths.configFile}: ${(error as Error).message}`, {
      hint: code === 'EISDIR' ? 'config.toml must be a file' : 'check the file permissions',
      cause: error,
    });
  }
  return parseConfig(text, paths.configFile, options);
}

export { DEFAULTS_SOURCE };
