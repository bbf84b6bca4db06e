import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultDockerConfigPath, loadDockerCredentials } from './docker-config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-oci-dockercfg-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadDockerCredentials', () => {
  it('decodes auths.<registry>.auth, matching Docker Hub by its legacy key', async () => {
    const path = join(dir, 'config.json');
    await writeFile(
      path,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:pa:ss').toString('base64') },
          'registry.example.com:5000': { username: 'u', password: 'p' },
        },
      }),
    );
    expect(await loadDockerCredentials('registry-1.docker.io', path)).toEqual({ username: 'hub', password: 'pa:ss' });
    expect(await loadDockerCredentials('registry.example.com:5000', path)).toEqual({ username: 'u', password: 'p' });
    expect(await loadDockerCredentials('other.example.com', path)).toBeUndefined();
  });

  it('treats a missing file as no credentials and names a broken file', async () => {
    expect(await loadDockerCredentials('x.io', join(dir, 'absent.json'))).toBeUndefined();
    const path = join(dir, 'broken.json');
    await writeFile(path, '{ nope');
    await expect(loadDockerCredentials('x.io', path)).rejects.toThrow(`Docker config ${path} is not valid JSON`);
    await writeFile(path, JSON.stringify({ auths: { 'x.io': { auth: Buffer.from('nocolon').toString('base64') } } }));
    await expect(loadDockerCredentials('x.io', path)).rejects.toThrow(`Docker config ${path}: auths."x.io".auth does not decode to user:password`);
  });

  it('finds the config through DOCKER_CONFIG', () => {
    expect(defaultDockerConfigPath({ DOCKER_CONFIG: '/etc/dc' })).toBe('/etc/dc/config.json');
  });
});
