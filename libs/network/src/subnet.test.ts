import { describe, expect, it } from 'vitest';
import { guestNetworkFor } from './guest-network.js';
import { macForIp, tapNameFor } from './names.js';
import { guestAddresses, parseSubnet } from './subnet.js';

describe('subnets and names', () => {
  it('derives netmask, gateway and broadcast from the default bridge_subnet', () => {
    expect(parseSubnet('172.16.0.0/24')).toEqual({
      cidr: '172.16.0.0/24',
      prefix: 24,
      network: '172.16.0.0',
      netmask: '255.255.255.0',
      gateway: '172.16.0.1',
      broadcast: '172.16.0.255',
      guestCapacity: 253,
    });
  });

  it('rejects a subnet with host bits set and suggests the right one', () => {
    expect(() => parseSubnet('172.16.0.5/24')).toThrow('bridge_subnet = "172.16.0.5/24": host bits are set (did you mean 172.16.0.0/24?)');
    expect(() => parseSubnet('172.16.0.0')).toThrow('not in CIDR notation');
    expect(() => parseSubnet('10.0.0.0/31')).toThrow('/31 must be between /8 and /30');
  });

  it('never offers the network, gateway or broadcast address to guests', () => {
    expect([...guestAddresses(parseSubnet('10.9.8.0/29'))]).toEqual(['10.9.8.2', '10.9.8.3', '10.9.8.4', '10.9.8.5', '10.9.8.6']);
  });

  it('names taps deterministically within the 15-character interface limit', () => {
    const name = tapNameFor('01J9ZK3W5V8Q2XGQK7C8N4M6T1');
    expect(name).toMatch(/^bgr-[0-9a-f]{11}$/);
    expect(name).toHaveLength(15);
    expect(tapNameFor('01J9ZK3W5V8Q2XGQK7C8N4M6T1')).toBe(name);
    expect(tapNameFor('another-vm')).not.toBe(name);
  });

  it('derives a locally administered unicast MAC from the guest address', () => {
    expect(macForIp('172.16.0.2')).toBe('06:00:ac:10:00:02');
    const first = Number.parseInt(macForIp('10.0.0.200').slice(0, 2), 16);
    expect(first & 0b10).toBe(0b10); // locally administered
    expect(first & 0b01).toBe(0); // unicast
  });

  it('builds the ip= boot argument systemd-network-generator reads', () => {
    expect(guestNetworkFor({ ip: '172.16.0.7', hostname: 'sandbox' }, '172.16.0.0/24')).toEqual({
      ip: '172.16.0.7',
      gateway: '172.16.0.1',
      netmask: '255.255.255.0',
      mac: '06:00:ac:10:00:07',
      dns: '172.16.0.1',
      bootArg: 'ip=172.16.0.7::172.16.0.1:255.255.255.0:sandbox:eth0:off:172.16.0.1',
    });
    expect(guestNetworkFor({ ip: '172.16.0.7', hostname: 'a', dns: '9.9.9.9' }, '172.16.0.0/24').bootArg).toMatch(/:off:9\.9\.9\.9$/);
  });

  it('refuses an address outside the subnet and a hostname that would break ip=', () => {
    expect(() => guestNetworkFor({ ip: '10.0.0.2', hostname: 'x' }, '172.16.0.0/24')).toThrow('outside bridge_subnet 172.16.0.0/24');
    expect(() => guestNetworkFor({ ip: '172.16.0.2', hostname: 'a:b' }, '172.16.0.0/24')).toThrow('hostname "a:b"');
  });
});
