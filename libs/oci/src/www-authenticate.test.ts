import { describe, expect, it } from 'vitest';
import { parseWwwAuthenticate } from './www-authenticate.js';

describe('parseWwwAuthenticate', () => {
  it('parses a Docker Hub Bearer challenge with a scope holding commas', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/debian:pull,push' } },
    ]);
  });

  it('parses Basic, unquoted values, escaped quotes and several challenges in one header', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry \\"x\\"", Bearer realm=https://t/token, error=invalid_token')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry "x"' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', error: 'invalid_token' } },
    ]);
  });

  it('returns no challenge for an empty header', () => {
    expect(parseWwwAuthenticate('')).toEqual([]);
  });
});
