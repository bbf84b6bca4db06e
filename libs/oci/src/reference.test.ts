import { describe, expect, it } from 'vitest';
import { formatReference, imageNameForReference, parseReference } from './reference.js';

describe('parseReference', () => {
  it('normalises a Docker Hub short name to registry-1.docker.io/library/<name>:latest', () => {
    expect(parseReference('debian')).toEqual({ registry: 'registry-1.docker.io', repository: 'library/debian', tag: 'latest', original: 'debian' });
    expect(formatReference(parseReference('debian'))).toBe('docker.io/library/debian:latest');
  });

  it('treats docker.io and index.docker.io as aliases of Docker Hub', () => {
    expect(parseReference('docker.io/library/debian:bookworm')).toMatchObject({ registry: 'registry-1.docker.io', repository: 'library/debian', tag: 'bookworm' });
    expect(parseReference('index.docker.io/debian:12')).toMatchObject({ registry: 'registry-1.docker.io', repository: 'library/debian', tag: '12' });
    expect(parseReference('grafana/grafana:11.0.0')).toMatchObject({ registry: 'registry-1.docker.io', repository: 'grafana/grafana', tag: '11.0.0' });
  });

  it('keeps a registry with a port apart from the tag', () => {
    expect(parseReference('127.0.0.1:5000/team/tools:v1.2')).toMatchObject({ registry: '127.0.0.1:5000', repository: 'team/tools', tag: 'v1.2' });
    expect(parseReference('localhost:5000/tools')).toMatchObject({ registry: 'localhost:5000', repository: 'tools', tag: 'latest' });
    expect(parseReference('ghcr.io/owner/repo/sub')).toMatchObject({ registry: 'ghcr.io', repository: 'owner/repo/sub', tag: 'latest' });
  });

  it('accepts a digest with or without a tag and then has no default tag', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseReference(`quay.io/x/y@${digest}`)).toEqual({ registry: 'quay.io', repository: 'x/y', digest, original: `quay.io/x/y@${digest}` });
    expect(parseReference(`debian:12@${digest}`)).toMatchObject({ tag: '12', digest });
  });

  it('rejects bad references with a message naming the reference and the bad part', () => {
    expect(() => parseReference('')).toThrow('invalid image reference "": it is empty');
    expect(() => parseReference('Debian')).toThrow('invalid image reference "Debian": repository component "Debian" must be lowercase');
    expect(() => parseReference('debian@sha256:abc')).toThrow('digest "sha256:abc" is not sha256:<64 lowercase hex>');
    expect(() => parseReference('debian:-bad')).toThrow('tag "-bad" may only hold');
    expect(() => parseReference('host:99999/x')).toThrow('port 99999 is out of range');
    expect(() => parseReference('a//b')).toThrow('empty component');
    expect(() => parseReference('x y')).toThrow('contains whitespace');
  });
});

describe('imageNameForReference', () => {
  it('derives a DNS-label name from the last repository component and the tag', () => {
    expect(imageNameForReference('docker.io/library/debian:bookworm')).toBe('debian-bookworm');
    expect(imageNameForReference('127.0.0.1:5000/team/tools:latest')).toBe('tools');
    expect(imageNameForReference('ubuntu:24.04')).toBe('ubuntu-24-04');
    expect(imageNameForReference(`x/y@sha256:${'0123456789ab'.repeat(5)}0123`)).toBe('y-0123456789ab');
    expect(imageNameForReference(`a/${'b'.repeat(80)}:t`)).toMatch(/^[a-z0-9-]{1,63}$/);
  });
});
