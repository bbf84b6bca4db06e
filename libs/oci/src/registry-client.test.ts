import { describe, expect, it } from 'vitest';
import { isLoopbackHost, RegistryClient } from './registry-client.js';

describe('RegistryClient transport', () => {
  it('speaks https to remote registries, and plain http only to loopback or when insecure', () => {
    expect(new RegistryClient({ registry: 'registry-1.docker.io' }).baseUrl).toBe('https://registry-1.docker.io');
    expect(new RegistryClient({ registry: 'registry.lan:5000', insecure: true }).baseUrl).toBe('http://registry.lan:5000');
    expect(new RegistryClient({ registry: '127.0.0.1:5000' }).baseUrl).toBe('http://127.0.0.1:5000');
    expect(new RegistryClient({ registry: 'localhost:5000' }).baseUrl).toBe('http://localhost:5000');
  });

  it('recognises loopback hosts with and without ports', () => {
    expect(isLoopbackHost('127.3.2.1:80')).toBe(true);
    expect(isLoopbackHost('[::1]:5000')).toBe(true);
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('127.example.com')).toBe(false);
    expect(isLoopbackHost('10.0.0.1:5000')).toBe(false);
  });
});
