import { describe, expect, it } from 'vitest';
import { hostsWithName, ipBatch, linkLocalOf, localIpv4Addresses, networkFileText } from './identity-script.js';

// /proc/net/fib_trie of a restored debian-minimal guest (QEMU/TCG), eth0 holding 172.16.0.3 and,
// before the identity, the template's 172.16.0.254 as a secondary.
const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 172.16.0.0/24 2 0 2
        +-- 172.16.0.0/30 2 0 2
           |-- 172.16.0.0
              /24 link UNICAST
           |-- 172.16.0.3
              /32 host LOCAL
        |-- 172.16.0.254
           /32 host LOCAL
        |-- 172.16.0.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 172.16.0.0/24 2 0 2
           |-- 172.16.0.3
              /32 host LOCAL
`;

describe('the identity of a restored guest', () => {
  it('reads the addresses the guest answers for, loopback and broadcast left out', () => {
    expect(localIpv4Addresses(FIB_TRIE)).toEqual(['172.16.0.254', '172.16.0.3']);
    expect(localIpv4Addresses('Main:\n  +-- 0.0.0.0/0 3 0 5\n')).toEqual([]);
  });

  it('derives the link-local address the kernel gave eth0 for that MAC on a real guest', () => {
    expect(linkLocalOf('06:00:ac:10:00:03')).toBe('fe80::400:acff:fe10:3');
    expect(linkLocalOf('00:00:00:00:00:00')).toBe('fe80::200:ff:fe00:0');
    expect(() => linkLocalOf('06:00:ac:10:00')).toThrow(/not a MAC/);
  });

  it('names the VM on the 127.0.1.1 line of /etc/hosts, adding one when there is none', () => {
    expect(hostsWithName('127.0.0.1 localhost\n127.0.1.1 banger-template\n::1 localhost\n', 'web')).toBe('127.0.0.1 localhost\n127.0.1.1 web\n::1 localhost\n');
    expect(hostsWithName('127.0.0.1 localhost', 'web')).toBe('127.0.0.1 localhost\n127.0.1.1 web\n');
  });

  it('moves eth0 without taking the link down (the guest networkd would re-apply the template address)', () => {
    const batch = ipBatch('06:00:ac:10:00:07', { ip: '172.16.0.7', prefix: 24, gateway: '172.16.0.1', dns: '172.16.0.1' });
    expect(batch.split('\n')).toEqual([
      'link set dev eth0 address 06:00:ac:10:00:07',
      'addr flush dev eth0',
      'addr add 172.16.0.7/24 dev eth0',
      'addr add fe80::400:acff:fe10:7/64 dev eth0',
      'route replace default via 172.16.0.1 dev eth0',
      '',
    ]);
    expect(networkFileText({ ip: '172.16.0.7', prefix: 24, gateway: '172.16.0.1', dns: '172.16.0.1' })).toBe('[Match]\nName=eth0\n\n[Network]\nAddress=172.16.0.7/24\nGateway=172.16.0.1\nDNS=172.16.0.1\n');
  });
});
