import { homedir } from 'node:os';
import { parse as parseToml, TomlError } from 'smol-toml';
import { UserError } from '@banger/errors';
import { CONFIG_DEFAULTS } from './defaults.js';
import { findUnknownKey } from './keys.js';
import { locateKey } from './locate.js';
import { ALLOWED, configSchema, issueParams, type RawConfig } from './schema.js';
import type { BangerConfig, FileSyncEntry } from './types.js';

/** Options for `parseConfig`/`loadConfig`. */
export interface ParseConfigOptions {
  /** Directory `~` expands to. Default: `$HOME`, else the OS home. */
  home?: string;
}

/**
 * Parses and validates config.toml text. `file` is only used in messages and
 * as `source`. Every problem is a one-line UserError whose code starts with
 * CONFIG_:
 * - `CONFIG_BAD_TOML`: `<file>:<line>:<col>: <parser message>`
 * - `CONFIG_UNKNOWN_KEY`: `<file>:<line>: unknown key "vm_defaults.vcpus"`, hint `did you mean …?`
 * - `CONFIG_BAD_VALUE` (and the more specific `CONFIG_BAD_GUEST_PATH`,
 *   `CONFIG_BAD_MODE`, `CONFIG_BAD_SUBNET`): names the key, the value given
 *   and what is allowed.
 * The line is included whenever it can be found in the text.
 */
export function parseConfig(text: string, file: string, options: ParseConfigOptions = {}): BangerConfig {
  const home = options.home ?? (process.env['HOME'] || homedir());
  const document = parseTomlText(text, file);

  const unknown = findUnknownKey(document);
  if (unknown) {
    const where = unknown.where ? ` ${unknown.where}` : '';
    throw new UserError('CONFIG_UNKNOWN_KEY', `${at(file, text, unknown.path)}: unknown key "${unknown.dotted}"${where}`, {
      hint: unknown.hint,
    });
  }

  const result = configSchema(home).safeParse(document);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw badValue(file, text, document, issue.path as Array<string | number>, issue);
  }
  const raw = result.data;
  const fileSync = raw.file_sync?.map(toFileSync) ?? [];
  checkDuplicateGuests(file, text, fileSync);
  return toConfig(raw, fileSync, file);
}

function parseTomlText(text: string, file: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      // smol-toml's message is "Invalid TOML document: <why>\n\n<code frame>".
      const why = error.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
      throw new UserError('CONFIG_BAD_TOML', `${file}:${error.line}:${error.column}: ${why}`, {
        hint: 'fix the TOML syntax at that position (see docs/config.md for examples)',
        cause: error,
      });
    }
    throw error;
  }
}

function badValue(
  file: string,
  text: string,
  document: Record<string, unknown>,
  path: Array<string | number>,
  issue: { message: string; code: string },
): UserError {
  const own = issueParams(issue as Parameters<typeof issueParams>[0]);
  const keyPath = path.filter((p): p is string => typeof p === 'string');
  const dotted = keyPath.join('.');
  const index = path.find((p): p is number => typeof p === 'number');
  const entry = path[0] === 'file_sync' && index !== undefined ? ` in [[file_sync]] entry ${index + 1}` : '';
  const given = describe(valueAt(document, path));
  let allowed: string;
  if (own) allowed = issue.message;
  else if (path[0] === 'file_sync' && path.length === 2) allowed = ALLOWED['file_sync.entry']!;
  else if (issue.code === 'invalid_type' && given === 'nothing') allowed = 'it is required';
  else allowed = ALLOWED[dotted] ?? issue.message;
  const hint = own?.hint ?? typeHint(dotted, valueAt(document, path));
  const name = dotted || 'config';
  return new UserError(own?.bangerCode ?? 'CONFIG_BAD_VALUE', `${at(file, text, path)}: bad value for "${name}"${entry}: got ${given}, ${allowed}`, {
    ...(hint ? { hint } : { hint: 'see docs/config.md for every key and its allowed values' }),
  });
}

/** Hints for the common type slips TOML invites. */
function typeHint(dotted: string, value: unknown): string | undefined {
  if (dotted === 'file_sync.mode' && typeof value === 'number') return `quote it: mode = "0${value}"`;
  if (dotted === 'vm_defaults.disk_size' && typeof value === 'number') return `quote it with a unit: disk_size = "${value}G"`;
  if ((dotted === 'vm_defaults.vcpu' || dotted === 'vm_defaults.memory_mib' || dotted === 'dns_port') && typeof value === 'string' && /^\d+$/.test(value)) {
    return `drop the quotes: ${dotted.split('.').at(-1)} = ${value}`;
  }
  if (dotted === 'file_sync' && value && typeof value === 'object' && !Array.isArray(value)) return 'use [[file_sync]] (double brackets) for each entry';
  return undefined;
}

function checkDuplicateGuests(file: string, text: string, entries: FileSyncEntry[]): void {
  const seen = new Map<string, number>();
  for (const [index, entry] of entries.entries()) {
    const first = seen.get(entry.guest);
    if (first !== undefined) {
      throw new UserError(
        'CONFIG_BAD_VALUE',
        `${at(file, text, ['file_sync', index, 'guest'])}: bad value for "file_sync.guest" in [[file_sync]] entry ${index + 1}: ` +
          `"${entry.guest}" is already written by entry ${first + 1}`,
        { hint: 'give each [[file_sync]] entry its own guest path' },
      );
    }
    seen.set(entry.guest, index);
  }
}

function toFileSync(entry: NonNullable<RawConfig['file_sync']>[number]): FileSyncEntry {
  return { host: entry.host, guest: entry.guest, ...(entry.mode ? { mode: entry.mode.padStart(4, '0') } : {}) };
}

/** `90s`, `30m`, `24h`, `7d` (the schema checked the form) in milliseconds. */
function durationMs(text: string): number {
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[text.slice(-1) as 's' | 'm' | 'h' | 'd'];
  return Number(text.slice(0, -1)) * unit;
}

function toConfig(raw: RawConfig, fileSync: FileSyncEntry[], file: string): BangerConfig {
  const vm = raw.vm_defaults ?? {};
  const config: BangerConfig = {
    defaultImageName: raw.default_image_name ?? CONFIG_DEFAULTS.defaultImageName,
    defaultKernelName: raw.default_kernel_name ?? CONFIG_DEFAULTS.defaultKernelName,
    hypervisor: raw.hypervisor ?? CONFIG_DEFAULTS.hypervisor,
    bridgeName: raw.bridge_name ?? CONFIG_DEFAULTS.bridgeName,
    bridgeSubnet: raw.bridge_subnet ?? CONFIG_DEFAULTS.bridgeSubnet,
    vmDefaults: {
      ...(vm.vcpu !== undefined ? { vcpu: vm.vcpu } : {}),
      ...(vm.memory_mib !== undefined ? { memoryMib: vm.memory_mib } : {}),
      ...(vm.disk_size !== undefined ? { diskSize: vm.disk_size } : {}),
    },
    fileSync,
    source: file,
  };
  if (raw.ssh_key_path !== undefined) config.sshKeyPath = raw.ssh_key_path;
  if (raw.firecracker_bin !== undefined) config.firecrackerBin = raw.firecracker_bin;
  if (raw.qemu_bin !== undefined) config.qemuBin = raw.qemu_bin;
  if (raw.catalog_url !== undefined) config.catalogUrl = raw.catalog_url;
  if (raw.kernel_catalog_url !== undefined) config.kernelCatalogUrl = raw.kernel_catalog_url;
  if (raw.debian_mirror !== undefined) config.debianMirror = raw.debian_mirror;
  if (raw.debian_keyring !== undefined) config.debianKeyring = raw.debian_keyring;
  if (raw.dns_port !== undefined) config.dnsPort = raw.dns_port;
  if (raw.dns_upstreams !== undefined) config.dnsUpstreams = raw.dns_upstreams;
  if (raw.interrupted_create_expiry !== undefined) config.interruptedCreateExpiryMs = durationMs(raw.interrupted_create_expiry);
  if (raw.warm_start !== undefined) config.warmStart = raw.warm_start;
  if (raw.disk_spares !== undefined) config.diskSpares = raw.disk_spares;
  return config;
}

function at(file: string, text: string, path: ReadonlyArray<string | number>): string {
  const line = path.length ? locateKey(text, path) : undefined;
  return line ? `${file}:${line}` : file;
}

function valueAt(document: unknown, path: ReadonlyArray<string | number>): unknown {
  let current = document;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[part];
  }
  return current;
}

/** A value as the error shows it: strings quoted, tables and arrays named. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  if (Array.isArray(value)) return 'an array';
  return 'a table';
}
