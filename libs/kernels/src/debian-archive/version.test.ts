import { describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { prerequisites } from '@banger/host/testing';
import { compareDebianVersions } from './version.js';

const pairs: Array<[string, string]> = [
  ['6.1.0-57', '6.1.0-50'],
  ['6.1.158-1', '6.1.176-1'],
  ['1:1.35.0-4', '1.36.1-9'],
  ['1.0~rc1', '1.0'],
  ['1.0~rc1', '1.0~rc2'],
  ['1.0', '1.0+deb12u1'],
  ['1.0a', '1.0+'],
  ['2.10', '2.9'],
  ['1.0-1', '1.0'],
  ['0:1.0', '1.0'],
  ['1.0.0', '1.0'],
  ['1.2.3-1~bpo12+1', '1.2.3-1'],
  ['20230101', '20230101.1'],
  ['1.001', '1.1'],
];

const needs = prerequisites(['dpkg']);

describe.skipIf(needs.skip)('comparing Debian versions', () => {
  it.each(pairs)('orders %s and %s the way dpkg --compare-versions does', async (a, b) => {
    needs.assert();
    const dpkg = async (op: string) => (await run('dpkg', ['--compare-versions', a, op, b], { allowFailure: true })).exitCode === 0;
    const expected = (await dpkg('lt')) ? -1 : (await dpkg('gt')) ? 1 : 0;
    expect(Math.sign(compareDebianVersions(a, b)) || 0).toBe(expected);
    expect(Math.sign(compareDebianVersions(b, a)) || 0).toBe(expected === 0 ? 0 : -expected);
  });
});
