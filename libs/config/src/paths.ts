import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { UserError } from '@banger/errors';

/**
 * Every file-system location banger uses, resolved once from the environment.
 * The CLI and the daemon must compute the same values, so both call
 * `resolvePaths()` with the same environment rules:
 *
 * - `BANGER_HOME=/x` puts everything under one directory (`/x/config`,
 *   `/x/state`, `/x/cache`, `/x/run`) — tests use it to run isolated.
 * - otherwise XDG: `$XDG_CONFIG_HOME/banger` (~/.config/banger),
 *   `$XDG_STATE_HOME/banger` (~/.local/state/banger),
 *   `$XDG_CACHE_HOME/banger` (~/.cache/banger), and the runtime dir
 *   `$XDG_RUNTIME_DIR/banger` when set, else `<stateDir>/run`.
 * - `BANGER_CACHE_DIR` overrides only the cache dir (lets tests share big
 *   downloads while keeping everything else private).
 */
export interface BangerPaths {
  /** `~/.config/banger`: config file and managed SSH keys. */
  configDir: string;
  /** `<configDir>/config.toml`. */
  configFile: string;
  /** `<configDir>/ssh`: the managed SSH key pair and banger's known_hosts. */
  sshDir: string;
  /** `<sshDir>/known_hosts`: banger's pinned host keys (never the user's ~/.ssh/known_hosts). */
  knownHostsFile: string;
  /** `<sshDir>/id_ed25519`: the key banger manages when `ssh_key_path` is not set (see userKeyFile). */
  managedKeyFile: string;
  /** `~/.local/state/banger`: records, images, kernels, VM dirs, DB, log. */
  stateDir: string;
  /** `<stateDir>/banger.db`: the daemon's SQLite database. */
  dbFile: string;
  /** `<stateDir>/bangerd.log`: the daemon's JSON-lines log. */
  logFile: string;
  /** `<stateDir>/kernels`: one directory per kernel bundle. */
  kernelsDir: string;
  /** `<stateDir>/images`: one directory per image bundle. */
  imagesDir: string;
  /** `<stateDir>/vms`: one directory per VM (rootfs copy, work disk, sockets). */
  vmsDir: string;
  /** `~/.cache/banger`: download and OCI layer cache; safe to delete. */
  cacheDir: string;
  /** Sockets and pid files: `$XDG_RUNTIME_DIR/banger` or `<stateDir>/run`. */
  runtimeDir: string;
  /** `<runtimeDir>/bangerd.sock`: the daemon's Unix socket. */
  socketPath: string;
}

/** The private key banger authenticates to guests with: `ssh_key_path` when set, else the managed one. */
export function userKeyFile(paths: Pick<BangerPaths, 'managedKeyFile'>, config: { sshKeyPath?: string | undefined }): string {
  return config.sshKeyPath ?? paths.managedKeyFile;
}

/** Linux `sun_path` is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Resolves banger's paths from an environment (default: this process's).
 * Throws a UserError (`CONFIG_PATH_TOO_LONG`) when the daemon socket path
 * would not fit in a Unix socket address, and `CONFIG_BAD_PATH` when an
 * override variable is not an absolute path.
 */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env): BangerPaths {
  const home = nonEmpty(env['HOME']) ?? homedir();
  const bangerHome = absoluteVar(env, 'BANGER_HOME');

  let configDir: string;
  let stateDir: string;
  let cacheDir: string;
  let runtimeDir: string;
  if (bangerHome) {
    configDir = join(bangerHome, 'config');
    stateDir = join(bangerHome, 'state');
    cacheDir = join(bangerHome, 'cache');
    runtimeDir = join(bangerHome, 'run');
  } else {
    // XDG says relative values are invalid and must be ignored.
    configDir = join(xdgVar(env, 'XDG_CONFIG_HOME') ?? join(home, '.config'), 'banger');
    stateDir = join(xdgVar(env, 'XDG_STATE_HOME') ?? join(home, '.local', 'state'), 'banger');
    cacheDir = join(xdgVar(env, 'XDG_CACHE_HOME') ?? join(home, '.cache'), 'banger');
    const xdgRuntime = xdgVar(env, 'XDG_RUNTIME_DIR');
    runtimeDir = xdgRuntime ? join(xdgRuntime, 'banger') : join(stateDir, 'run');
  }
  const cacheOverride = absoluteVar(env, 'BANGER_CACHE_DIR');
  if (cacheOverride) cacheDir = cacheOverride;

  const socketPath = join(runtimeDir, 'bangerd.sock');
  assertSocketPathFits(socketPath);

  return {
    configDir,
    configFile: join(configDir, 'config.toml'),
    sshDir: join(configDir, 'ssh'),
    knownHostsFile: join(configDir, 'ssh', 'known_hosts'),
    managedKeyFile: join(configDir, 'ssh', 'id_ed25519'),
    stateDir,
    dbFile: join(stateDir, 'banger.db'),
    logFile: join(stateDir, 'bangerd.log'),
    kernelsDir: join(stateDir, 'kernels'),
    imagesDir: join(stateDir, 'images'),
    vmsDir: join(stateDir, 'vms'),
    cacheDir,
    runtimeDir,
    socketPath,
  };
}

/**
 * Throws `CONFIG_PATH_TOO_LONG` when `path` cannot be bound as a Unix socket
 * (the kernel silently truncates or refuses longer paths, which shows up
 * later as a baffling ENOENT). Exported for per-VM sockets too.
 */
export function assertSocketPathFits(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new UserError(
      'CONFIG_PATH_TOO_LONG',
      `socket path too long: ${path} is ${bytes} bytes, Unix sockets allow at most ${MAX_SOCKET_PATH_BYTES}`,
      { hint: 'use a shorter BANGER_HOME, XDG_RUNTIME_DIR or XDG_STATE_HOME' },
    );
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value && value.trim() !== '' ? value : undefined;
}

function xdgVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = nonEmpty(env[name]);
  return value && isAbsolute(value) ? resolve(value) : undefined;
}

function absoluteVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = nonEmpty(env[name]);
  if (!value) return undefined;
  if (!isAbsolute(value)) {
    throw new UserError('CONFIG_BAD_PATH', `${name} must be an absolute path, got "${value}"`, {
      hint: `set ${name} to an absolute directory, e.g. ${name}=${resolve(value)}`,
    });
  }
  return resolve(value);
}
