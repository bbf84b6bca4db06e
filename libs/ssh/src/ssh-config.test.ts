import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { addSshConfigInclude, removeSshConfigInclude, renderSshConfig } from './ssh-config.js';

describe('ssh config', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-sshconfig-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('renders a Host *.vm block that OpenSSH applies to VM names only', async () => {
    const file = join(dir, 'banger config');
    await writeFile(file, renderSshConfig({ keyPath: join(dir, 'my key'), knownHostsPath: join(dir, 'known_hosts') }));
    const vm = (await execa('ssh', ['-G', '-F', file, 'sandbox.vm'])).stdout;
    expect(vm).toMatch(/^user root$/m);
    expect(vm).toContain(`identityfile ${join(dir, 'my key')}`);
    expect(vm).toMatch(/^identitiesonly yes$/m);
    expect(vm).toContain(`userknownhostsfile ${join(dir, 'known_hosts')}`);
    expect(vm).toMatch(/^stricthostkeychecking true$/m);
    const other = (await execa('ssh', ['-G', '-F', file, 'example.com'])).stdout;
    expect(other).not.toContain(join(dir, 'my key'));
  });

  it('adds the Include line once, at the top, keeping the user\'s config and its mode', async () => {
    const config = join(dir, '.ssh', 'config');
    const include = join(dir, 'banger', 'ssh config');
    expect(await addSshConfigInclude(config, include)).toBe(true);
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, '.ssh'))).mode & 0o777).toBe(0o700);

    await writeFile(config, `${await readFile(config, 'utf8')}Host work\n    User me\n`);
    expect(await addSshConfigInclude(config, include)).toBe(false);
    const text = await readFile(config, 'utf8');
    expect(text.indexOf(`Include "${include}"`)).toBeLessThan(text.indexOf('Host work'));

    expect(await removeSshConfigInclude(config, include)).toBe(true);
    expect(await readFile(config, 'utf8')).toBe('Host work\n    User me\n');
    expect(await removeSshConfigInclude(config, include)).toBe(false);
  });
});
