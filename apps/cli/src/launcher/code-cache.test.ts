import { resolvePaths } from '@banger/config';
import { describe, expect, it } from 'vitest';
import { codeCacheDir } from './code-cache.js';

describe('codeCacheDir', () => {
  // The launcher cannot load @banger/config (it runs before the body); it must still agree with it.
  it.each([
    { HOME: '/home/u' },
    { HOME: '/home/u', XDG_CACHE_HOME: '/xdg/cache' },
    { HOME: '/home/u', XDG_CACHE_HOME: 'relative/ignored' },
    { HOME: '/home/u', BANGER_HOME: '/b/home' },
    { HOME: '/home/u', BANGER_HOME: '/b/home', BANGER_CACHE_DIR: '/c/dir' },
    { HOME: '/home/u', XDG_CACHE_HOME: '/xdg/cache', BANGER_CACHE_DIR: '/c/dir/' },
  ])('is the code-cache directory inside banger’s cache dir for %o', (env) => {
    expect(codeCacheDir(env)).toBe(`${resolvePaths(env).cacheDir}/code-cache`);
  });

  it('is off with BANGER_CODE_CACHE=0', () => {
    expect(codeCacheDir({ HOME: '/home/u', BANGER_CODE_CACHE: '0' })).toBeUndefined();
  });
});
