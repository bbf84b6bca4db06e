import { describe, expect, it } from 'vitest';
import { parseManifest, selectPlatform } from './manifest.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe('manifests', () => {
  it('rejects Docker schema 1 and non-sha256 digests with the reference in the message', () => {
    expect(() => parseManifest(Buffer.from('{"schemaVersion":1,"fsLayers":[]}'), null, 'x:1')).toThrow('manifest x:1 is invalid: Docker schema 1 manifests are not supported');
    const bad = { schemaVersion: 2, config: { digest: 'sha512:abc', size: 1 }, layers: [] };
    expect(() => parseManifest(Buffer.from(JSON.stringify(bad)), null, 'x:1')).toThrow('config.digest "sha512:abc" is not a sha256 digest');
  });

  it('picks linux/amd64 from an index, ignoring attestation entries, and lists the platforms when it is absent', () => {
    const index = parseManifest(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            { digest: d('1'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
            { digest: d('2'), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
            { digest: d('3'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
          ],
        }),
      ),
      'application/vnd.oci.image.index.v1+json',
      'x:1',
    );
    if (index.kind !== 'index') throw new Error('expected an index');
    expect(selectPlatform(index, 'x:1').digest).toBe(d('3'));
    const noAmd = { ...index, manifests: index.manifests.filter((m) => m.digest !== d('3')) };
    expect(() => selectPlatform(noAmd, 'x:1')).toThrow('image x:1 has no linux/amd64 manifest (available: linux/arm/v7)');
  });
});
