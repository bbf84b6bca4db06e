import { readFileSync, statSync, type Stats } from 'node:fs';
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
    // A FIFO or device would block the read forever (deaf to Ctrl-C): only a regular file is read.
    const kind = fileKind(statSync(paths.configFile));
    if (kind !== 'file') {
      throw new UserError('CONFIG_UNREADABLE', `cannot read ${paths.configFile}: it is a ${kind}, not a regular file`, { hint: 'config.toml must be a file' });
    }
    text = decodeUtf8(readFileSync(paths.configFile), paths.configFile);
  } catch (error) {
    if (error instanceof UserError) throw error;
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

function fileKind(stats: Stats): string {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'device';
  return 'special file';
}

/** The file's text; bytes that are not UTF-8 are an error naming the line and column, never silently replaced. */
function decodeUtf8(bytes: Buffer, file: string): string {
  const bad = firstInvalidUtf8(bytes);
  if (bad < 0) return bytes.toString('utf8');
  const before = bytes.subarray(0, bad);
  const line = before.filter((b) => b === 0x0a).length + 1;
  const column = bad - (before.lastIndexOf(0x0a) + 1) + 1;
  throw new UserError('CONFIG_NOT_UTF8', `${file}:${line}:${column}: not valid UTF-8`, { hint: 'save config.toml as UTF-8' });
}

const REPLACEMENT_CHARACTER = Buffer.from([0xef, 0xbf, 0xbd]);

/** Byte offset of the first byte that does not start or continue a well-formed UTF-8 sequence, or -1. */
function firstInvalidUtf8(bytes: Buffer): number {
  for (let at = 0; at < bytes.length; ) {
    const lead = bytes[at]!;
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (length === 0 || at + length > bytes.length) return at;
    // Bad continuation bytes, overlongs and surrogates decode to U+FFFD (and only U+FFFD itself may).
    const sequence = bytes.subarray(at, at + length);
    if (length > 1 && new TextDecoder().decode(sequence).includes('\uFFFD') && !sequence.equals(REPLACEMENT_CHARACTER)) return at;
    at += length;
  }
  return -1;
}
