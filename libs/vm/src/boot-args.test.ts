import { describe, expect, it } from 'vitest';
import { guestNetworkFor } from '@banger/network';
import { vmBootArgs, vmDisks } from './boot-args.js';

describe('boot arguments of the guest contract', () => {
  it('builds the exact kernel command line, DNS on the bridge address', () => {
    const network = guestNetworkFor({ ip: '172.16.0.5', hostname: 'sandbox' }, '172.16.0.0/24');
    expect(vmBootArgs({ hostname: 'sandbox', network })).toBe(
      'console=ttyS0 reboot=k panic=1 root=/dev/vda rw net.ifnames=0 ip=172.16.0.5::172.16.0.1:255.255.255.0:sandbox:eth0:off:172.16.0.1 systemd.hostname=sandbox banger.modules=/dev/vdc',
    );
  });

  it('attaches rootfs, work disk and the read-only modules disk as vda, vdb, vdc', () => {
    expect(vmDisks({ rootfs: '/v/rootfs.ext4', workDisk: '/v/work.ext4', modules: '/k/modules.ext4' })).toEqual([
      { id: 'rootfs', path: '/v/rootfs.ext4', readOnly: false },
      { id: 'work', path: '/v/work.ext4', readOnly: false },
      { id: 'modules', path: '/k/modules.ext4', readOnly: true },
    ]);
  });
});
