import { describe, expect, it } from 'vitest';
import { formatBundleRef, hasExplicitTag, isOciRef, parseBundleRef, versionTag } from './bundle-ref.js';

describe('oci:// bundle references', () => {
  it('parses registry, repository, tag and digest', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    expect(parseBundleRef(`oci://127.0.0.1:5000/banger/golden:1.2@${digest}`)).toMatchObject({ registry: '127.0.0.1:5000', repository: 'banger/golden', tag: '1.2', digest });
    expect(formatBundleRef(parseBundleRef('oci://registry.lan/team/kernel:6.1'))).toBe('oci://registry.lan/team/kernel:6.1');
  });

  it('tells a registry reference from a directory, and an explicit tag from the default', () => {
    expect(isOciRef('oci://localhost:5000/x')).toBe(true);
    expect(isOciRef('/srv/bundles')).toBe(false);
    expect(hasExplicitTag('oci://127.0.0.1:5000/banger/kernel')).toBe(false);
    expect(hasExplicitTag('oci://127.0.0.1:5000/banger/kernel:v2')).toBe(true);
    expect(hasExplicitTag(`oci://127.0.0.1:5000/banger/kernel@sha256:${'0'.repeat(64)}`)).toBe(false);
  });

  it('turns a version into a valid tag', () => {
    expect(versionTag('6.1.0-57-cloud-amd64')).toBe('6.1.0-57-cloud-amd64');
    expect(versionTag('1.2+deb12u1')).toBe('1.2_deb12u1');
    expect(versionTag('-x')).toBe('_x');
  });

  it('refuses a reference without the scheme or without a registry host, naming it', () => {
    expect(() => parseBundleRef('127.0.0.1:5000/banger/golden')).toThrow('invalid bundle reference "127.0.0.1:5000/banger/golden": it must start with oci://');
    expect(() => parseBundleRef('oci://banger/golden')).toThrow('invalid bundle reference "oci://banger/golden": it names no registry host');
    expect(() => parseBundleRef('oci://127.0.0.1:5000/Banger')).toThrow(/invalid image reference "127\.0\.0\.1:5000\/Banger": repository component "Banger"/);
  });
});
