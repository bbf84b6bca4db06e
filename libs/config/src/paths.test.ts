import { describe, expect, it } from 'vitest';
import { UserError } from '@banger/errors';
import { resolvePaths } from './paths.js';

describe('resolvePaths', () => {
  it('follows the XDG defaults under HOME when nothing is set', () => {
    const paths = resolvePaths({ HOME: '/home/ada' });
    expect(paths).toEqual({
      configDir: '/home/ada/.config/banger',
      configFile: '/home/ada/.config/banger/config.toml',
      sshDir: '/home/ada/.config/banger/ssh',
      knownHostsFile: '/home/ada/.config/banger/ssh/known_hosts',
      managedKeyFile: '/home/ada/.config/banger/ssh/id_ed25519',
      stateDir: '/home/ada/.local/state/banger',
      dbFile: '/home/ada/.local/state/banger/banger.db',
      logFile: '/home/ada/.local/state/banger/bangerd.log',
      kernelsDir: '/home/ada/.local/state/banger/kernels',
      imagesDir: '/home/ada/.local/state/banger/images',
      vmsDir: '/home/ada/.local/state/banger/vms',
      cacheDir: '/home/ada/.cache/banger',
      runtimeDir: '/home/ada/.local/state/banger/run',
      socketPath: '/home/ada/.local/state/banger/run/bangerd.sock',
    });
  });

  it('honours XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_CACHE_HOME and XDG_RUNTIME_DIR', () => {
    const paths = resolvePaths({
      HOME: '/home/ada',
      XDG_CONFIG_HOME: '/xdg/config',
      XDG_STATE_HOME: '/xdg/state',
      XDG_CACHE_HOME: '/xdg/cache',
      XDG_RUNTIME_DIR: '/run/user/1000',
    });
    expect(paths.configFile).toBe('/xdg/config/banger/config.toml');
    expect(paths.dbFile).toBe('/xdg/state/banger/banger.db');
    expect(paths.vmsDir).toBe('/xdg/state/banger/vms');
    expect(paths.cacheDir).toBe('/xdg/cache/banger');
    expect(paths.runtimeDir).toBe('/run/user/1000/banger');
    expect(paths.socketPath).toBe('/run/user/1000/banger/bangerd.sock');
  });

  it('ignores relative XDG values as the XDG spec requires', () => {
    const paths = resolvePaths({ HOME: '/home/ada', XDG_CONFIG_HOME: 'relative/dir' });
    expect(paths.configDir).toBe('/home/ada/.config/banger');
  });

  it('puts everything under BANGER_HOME, ignoring XDG_* and XDG_RUNTIME_DIR', () => {
    const paths = resolvePaths({
      HOME: '/home/ada',
      BANGER_HOME: '/tmp/bh',
      XDG_CONFIG_HOME: '/xdg/config',
      XDG_STATE_HOME: '/xdg/state',
      XDG_RUNTIME_DIR: '/run/user/1000',
    });
    expect(paths.configDir).toBe('/tmp/bh/config');
    expect(paths.sshDir).toBe('/tmp/bh/config/ssh');
    expect(paths.stateDir).toBe('/tmp/bh/state');
    expect(paths.logFile).toBe('/tmp/bh/state/bangerd.log');
    expect(paths.cacheDir).toBe('/tmp/bh/cache');
    expect(paths.runtimeDir).toBe('/tmp/bh/run');
    expect(paths.socketPath).toBe('/tmp/bh/run/bangerd.sock');
  });

  it('lets BANGER_CACHE_DIR override only the cache dir', () => {
    const paths = resolvePaths({ HOME: '/home/ada', BANGER_HOME: '/tmp/bh', BANGER_CACHE_DIR: '/var/cache/shared' });
    expect(paths.cacheDir).toBe('/var/cache/shared');
    expect(paths.stateDir).toBe('/tmp/bh/state');
    expect(resolvePaths({ HOME: '/home/ada', BANGER_CACHE_DIR: '/c' }).configDir).toBe('/home/ada/.config/banger');
  });

  it('refuses a relative BANGER_HOME with a hint showing the absolute form', () => {
    const error = catchError(() => resolvePaths({ HOME: '/home/ada', BANGER_HOME: 'rel' }));
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({ code: 'CONFIG_BAD_PATH', message: 'BANGER_HOME must be an absolute path, got "rel"' });
  });

  it('refuses a socket path longer than a Unix socket address allows', () => {
    const long = `/tmp/${'x'.repeat(100)}`;
    const error = catchError(() => resolvePaths({ HOME: '/home/ada', BANGER_HOME: long }));
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({ code: 'CONFIG_PATH_TOO_LONG' });
    expect((error as UserError).message).toContain(`${long}/run/bangerd.sock is 122 bytes`);
    expect((error as UserError).hint).toContain('shorter BANGER_HOME');
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
