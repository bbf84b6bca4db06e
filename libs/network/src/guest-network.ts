import { UserError } from '@banger/errors';
import { macForIp } from './names.js';
import { parseSubnet, subnetContains } from './subnet.js';

/** The guest side of a VM's network, ready for the kernel command line. */
export interface GuestNetwork {
  ip: string;
  gateway: string;
  netmask: string;
  mac: string;
  /** DNS server written to the guest's resolv.conf (by systemd-network-generator). */
  dns: string;
  /** `ip=<ip>::<gw>:<mask>:<hostname>:eth0:off:<dns>` */
  bootArg: string;
}

/**
 * Builds a guest's network settings from its lease. The hostname goes into
 * `ip=` (and the VM layer adds `systemd.hostname=`); `dns` defaults to the
 * gateway, where bangerd's DNS server answers for `.vm` and forwards the rest
 * to the host's upstream resolvers (apps/daemon/src/services/dns.ts).
 */
export function guestNetworkFor(lease: { ip: string; hostname: string; dns?: string }, subnetCidr: string): GuestNetwork {
  const subnet = parseSubnet(subnetCidr);
  if (!subnetContains(subnet, lease.ip)) {
    throw new UserError('NETWORK_BAD_LEASE', `guest address ${lease.ip} is outside bridge_subnet ${subnet.cidr}`);
  }
  // ip= is colon-separated: a hostname with ':' or whitespace would shift every field.
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(lease.hostname)) {
    throw new UserError('NETWORK_BAD_HOSTNAME', `hostname "${lease.hostname}" is not a valid host name`, {
      hint: 'use letters, digits and hyphens (at most 63 characters)',
    });
  }
  const dns = lease.dns ?? subnet.gateway;
  return {
    ip: lease.ip,
    gateway: subnet.gateway,
    netmask: subnet.netmask,
    mac: macForIp(lease.ip),
    dns,
    bootArg: `ip=${lease.ip}::${subnet.gateway}:${subnet.netmask}:${lease.hostname}:eth0:off:${dns}`,
  };
}
