import { describe, expect, it } from 'vitest';
import { formatIpv4, parseIpv4 } from './ipv4.js';

describe('IPv4', () => {
  it('parses a dotted quad into a 32-bit unsigned number and back', () => {
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('10.0.0.1')).toBe(0x0a000001);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const ip of ['172.16.0.1', '192.168.100.254', '255.255.255.255']) expect(formatIpv4(parseIpv4(ip)!)).toBe(ip);
  });

  it('refuses anything else, leading zeros included', () => {
    for (const text of ['', '10.0.0', '10.0.0.0.1', '10.0.0.256', '10.0.0.-1', '10.0.0.01', '10.0.0.a', ' 10.0.0.1', '1e1.0.0.1']) {
      expect(parseIpv4(text), text).toBeUndefined();
    }
  });
});
