import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedRecipes } from './embedded-recipes.js';
import { parseAptCachePolicy, recipeFingerprint } from './fingerprint.js';
import { builtinRecipeNames, loadRecipe } from './load-recipe.js';
import { parseRecipe } from './parse-recipe.js';

const minimal = `name = "x"\ndescription = "d"\nsuite = "bookworm"\npackages = ["systemd"]\n`;
const parseError = (text: string): string => {
  try {
    parseRecipe(text, 'recipes/x.toml');
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a parse error');
};

describe('parseRecipe', () => {
  it('fills defaults for a minimal recipe', () => {
    expect(parseRecipe(minimal, 'recipes/x.toml')).toMatchObject({
      name: 'x',
      variant: 'minbase',
      default_kernel: 'debian-cloud',
      slim: true,
      files: [],
      npm_binaries: [],
      systemd: { enable: [], mask: [] },
      source: 'recipes/x.toml',
      text: minimal,
    });
  });

  it('names the file, line and column of a TOML syntax error', () => {
    expect(parseError(`${minimal}packages = [\n`)).toMatch(/^recipes\/x\.toml:5:\d+: invalid TOML: /);
  });

  it('names the file and the key of an unknown key', () => {
    expect(parseError(`${minimal}pakages = ["vim"]\n`)).toBe('recipes/x.toml: unknown key "pakages"');
  });

  it('names the nested key of a bad value', () => {
    expect(parseError(`${minimal}[[files]]\npath = "etc/motd"\ncontent = "hi"\n`)).toBe('recipes/x.toml: files[0].path: must be an absolute path inside the image');
    expect(parseError(minimal.replace('["systemd"]', '["systemd", "Bad Name"]'))).toBe('recipes/x.toml: packages[1]: must be a Debian package name');
    expect(parseError(`${minimal}[systemd]\nenable = ["docker"]\n`)).toBe('recipes/x.toml: systemd.enable[0]: must be a systemd unit name such as "docker.service"');
  });

  it('requires npm binaries to be pinned to an exact version', () => {
    const text = `${minimal}[[npm_binaries]]\npackage = "@jdxcode/mise-linux-x64"\nversion = "latest"\nbinary = "bin/mise"\ninstall_to = "/usr/local/bin/mise"\n`;
    expect(parseError(text)).toBe('recipes/x.toml: npm_binaries[0].version: must be an exact version (pin it)');
  });

  it('reports a missing required key by name', () => {
    expect(parseError(minimal.replace('suite = "bookworm"\n', ''))).toMatch(/^recipes\/x\.toml: suite: /);
  });
});

describe('loadRecipe', () => {
  it('ships debian-bookworm and debian-minimal, both valid', async () => {
    expect(builtinRecipeNames()).toEqual(['debian-bookworm', 'debian-minimal']);
    const golden = await loadRecipe('debian-bookworm');
    expect(golden.packages).toEqual(expect.arrayContaining(['systemd', 'udev', 'kmod', 'openssh-server', 'docker.io', 'git', 'jq', 'curl', 'make', 'sudo', 'dbus']));
    expect(golden.npm_binaries[0]).toMatchObject({ package: '@jdxcode/mise-linux-x64', install_to: '/usr/local/bin/mise' });
    expect((await loadRecipe('debian-minimal')).packages).toEqual(expect.arrayContaining(['systemd', 'systemd-sysv', 'udev', 'kmod', 'openssh-server', 'iproute2']));
  });

  it('embeds exactly the recipes/*.toml files (run scripts/embed-recipes.mjs after editing them)', () => {
    const dir = new URL('../../recipes/', import.meta.url);
    const onDisk = Object.fromEntries(readdirSync(dir).filter((f) => f.endsWith('.toml')).map((f) => [f.replace(/\.toml$/, ''), readFileSync(new URL(f, dir), 'utf8')]));
    expect(embeddedRecipes).toEqual(onDisk);
  });

  it('lists the known recipes when the name is unknown', async () => {
    await expect(loadRecipe('debian-sid')).rejects.toThrow('recipe "debian-sid" not found: known recipes are debian-bookworm, debian-minimal');
  });

  it('loads a user recipe from a path and names the path in errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'banger-recipe-'));
    try {
      writeFileSync(join(dir, 'mine.toml'), minimal);
      expect((await loadRecipe(join(dir, 'mine.toml'))).name).toBe('x');
      writeFileSync(join(dir, 'bad.toml'), `${minimal}variant = "huge"\n`);
      await expect(loadRecipe(join(dir, 'bad.toml'))).rejects.toThrow(`${join(dir, 'bad.toml')}: variant: `);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('recipeFingerprint', () => {
  const recipe = parseRecipe(minimal, 'x.toml');

  it('is stable for the same recipe and package versions', () => {
    expect(recipeFingerprint(recipe, ['systemd=252'])).toBe(recipeFingerprint(recipe, ['systemd=252']));
    expect(recipeFingerprint(recipe)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with the recipe text, a package version or the pinned npm version', () => {
    const base = recipeFingerprint(recipe, ['systemd=252']);
    expect(recipeFingerprint(recipe, ['systemd=253'])).not.toBe(base);
    expect(recipeFingerprint(parseRecipe(`# comment\n${minimal}`, 'x.toml'), ['systemd=252'])).not.toBe(base);
    const withMise = (v: string) =>
      parseRecipe(`${minimal}[[npm_binaries]]\npackage = "p"\nversion = "${v}"\nbinary = "b"\ninstall_to = "/b"\n`, 'x.toml');
    expect(recipeFingerprint(withMise('1.0.0'))).not.toBe(recipeFingerprint(withMise('1.0.1')));
  });

  it('reads candidate versions from apt-cache policy output', () => {
    const text = 'systemd:\n  Installed: 252.38\n  Candidate: 252.39-1~deb12u2\n  Version table:\nudev:\n  Installed: (none)\n  Candidate: 252.39-1~deb12u2\n';
    expect(parseAptCachePolicy(text)).toEqual(['systemd=252.39-1~deb12u2', 'udev=252.39-1~deb12u2']);
  });
});

describe('resolvePackageVersions', () => {
  it('returns no versions (a recipe-only fingerprint) when the apt sources are unreachable', async () => {
    const { resolvePackageVersions } = await import('./fingerprint.js');
    const cacheDir = mkdtempSync(join(tmpdir(), 'banger-resolve-'));
    try {
      const recipe = parseRecipe(minimal, 'x.toml');
      const lines: string[] = [];
      const resolved = await resolvePackageVersions(recipe, {
        cacheDir,
        aptSources: 'Types: deb\nURIs: http://127.0.0.1:9/debian\nSuites: bookworm\nComponents: main\nTrusted: yes\n',
        progress: { line: (l) => lines.push(l) },
      });
      expect(resolved).toEqual([]);
      expect(lines).toEqual(['refreshing the bookworm package index (apt-get update)', expect.stringMatching(/apt-get update for bookworm failed/)]);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }, 60_000);
});
