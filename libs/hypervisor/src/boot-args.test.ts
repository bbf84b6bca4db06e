import { describe, expect, it } from 'vitest';
import type { VmSpec } from './driver.js';
import { buildFirecrackerArgs, buildFirecrackerCalls } from './firecracker-calls.js';
import { buildQemuArgs, qemuKernelCmdline } from './qemu-args.js';

const guestArgs =
  'console=ttyS0 reboot=k panic=1 root=/dev/vda rw net.ifnames=0 ip=172.16.0.2::172.16.0.1:255.255.255.0:sandbox:eth0:off:172.16.0.1 systemd.hostname=sandbox banger.modules=/dev/vdc';

const spec: VmSpec = {
  id: 'vm_01',
  name: 'sandbox',
  vcpu: 2,
  memoryMib: 1024,
  kernel: { vmlinux: '/k/vmlinux', initrd: '/k/initrd.img' },
  bootArgs: guestArgs,
  disks: [
    { id: 'rootfs', path: '/vms/vm_01/rootfs.ext4', readOnly: false },
    { id: 'work', path: '/vms/vm_01/work.ext4', readOnly: false },
    { id: 'modules', path: '/k/modules.ext4', readOnly: true },
  ],
  net: { tap: 'bgr-1234567890a', mac: '06:00:ac:10:00:02' },
  consoleLogPath: '/vms/vm_01/console.log',
  agentSocketPath: '/vms/vm_01/agent.sock',
  vmDir: '/vms/vm_01',
};

describe('boot arguments each driver builds', () => {
  it('QEMU under TCG: the exact argv, with tsc_early_khz appended to the guest command line', () => {
    expect(buildQemuArgs(spec, { accel: 'tcg', tscKhz: 2096010 })).toEqual([
      '-name', 'sandbox,process=banger-vm_01',
      '-M', 'microvm',
      '-accel', 'tcg', '-cpu', 'max',
      '-m', '1024',
      '-smp', '2',
      '-nodefaults', '-no-user-config', '-nographic',
      '-no-reboot',
      '-kernel', '/k/vmlinux',
      '-initrd', '/k/initrd.img',
      '-append', `${guestArgs} tsc_early_khz=2096010 tsc=reliable`,
      '-chardev', 'file,id=console,path=/vms/vm_01/console.log,append=on',
      '-serial', 'chardev:console',
      '-drive', 'id=rootfs,file=/vms/vm_01/rootfs.ext4,format=raw,if=none,readonly=off',
      '-device', 'virtio-blk-device,drive=rootfs',
      '-drive', 'id=work,file=/vms/vm_01/work.ext4,format=raw,if=none,readonly=off',
      '-device', 'virtio-blk-device,drive=work',
      '-drive', 'id=modules,file=/k/modules.ext4,format=raw,if=none,readonly=on',
      '-device', 'virtio-blk-device,drive=modules',
      '-netdev', 'tap,id=net0,ifname=bgr-1234567890a,script=no,downscript=no',
      '-device', 'virtio-net-device,netdev=net0,mac=06:00:ac:10:00:02',
      '-device', 'virtio-serial-device',
      '-chardev', 'socket,id=agent,path=/vms/vm_01/agent.sock,server=on,wait=off',
      '-device', 'virtserialport,chardev=agent,name=banger.agent',
      '-qmp', 'unix:/vms/vm_01/qmp.sock,server=on,wait=off',
      '-pidfile', '/vms/vm_01/qemu.pid',
    ]);
  });

  it('QEMU with KVM: host CPU and the guest command line unchanged', () => {
    const args = buildQemuArgs(spec, { accel: 'kvm', tscKhz: 2096010 });
    expect(args.slice(4, 8)).toEqual(['-accel', 'kvm', '-cpu', 'host']);
    expect(args[args.indexOf('-append') + 1]).toBe(guestArgs);
  });

  it('QEMU escapes commas in paths and leaves out the devices a spec does not ask for', () => {
    const args = buildQemuArgs({ ...spec, consoleLogPath: '/tmp/a,b/console.log', net: undefined, agentSocketPath: undefined }, { accel: 'tcg' });
    expect(args).toContain('file,id=console,path=/tmp/a,,b/console.log,append=on');
    expect(args.join(' ')).not.toMatch(/virtio-net|virtserialport/);
    expect(qemuKernelCmdline(guestArgs, { accel: 'tcg' })).toBe(guestArgs); // no TSC known: nothing appended
  });

  it('Firecracker: the argv and the exact API call sequence with bodies', () => {
    expect(buildFirecrackerArgs(spec)).toEqual(['--api-sock', '/vms/vm_01/firecracker.sock', '--id', 'vm-01']);
    expect(buildFirecrackerCalls(spec)).toEqual([
      { method: 'PUT', path: '/logger', body: { log_path: '/vms/vm_01/firecracker.log', level: 'Info', show_level: true, show_log_origin: false } },
      { method: 'PUT', path: '/machine-config', body: { vcpu_count: 2, mem_size_mib: 1024, smt: false } },
      { method: 'PUT', path: '/boot-source', body: { kernel_image_path: '/k/vmlinux', initrd_path: '/k/initrd.img', boot_args: guestArgs } },
      // The VM's own disks relative to its dir (Firecracker runs there; a snapshot restored elsewhere opens that dir's copies).
      { method: 'PUT', path: '/drives/rootfs', body: { drive_id: 'rootfs', path_on_host: 'rootfs.ext4', is_root_device: true, is_read_only: false, cache_type: 'Writeback' } },
      { method: 'PUT', path: '/drives/work', body: { drive_id: 'work', path_on_host: 'work.ext4', is_root_device: false, is_read_only: false, cache_type: 'Writeback' } },
      { method: 'PUT', path: '/drives/modules', body: { drive_id: 'modules', path_on_host: '/k/modules.ext4', is_root_device: false, is_read_only: true, cache_type: 'Writeback' } },
      { method: 'PUT', path: '/network-interfaces/eth0', body: { iface_id: 'eth0', host_dev_name: 'bgr-1234567890a', guest_mac: '06:00:ac:10:00:02' } },
      { method: 'PUT', path: '/vsock', body: { guest_cid: 3, uds_path: '/vms/vm_01/agent.sock' } },
      { method: 'PUT', path: '/actions', body: { action_type: 'InstanceStart' } },
    ]);
  });

  it('Firecracker adds reboot=k panic=1 when the guest arguments lack them, since boot_args replaces its default', () => {
    const calls = buildFirecrackerCalls({ ...spec, bootArgs: 'console=ttyS0 root=/dev/vda rw' });
    expect((calls[2]?.body as { boot_args: string }).boot_args).toBe('console=ttyS0 root=/dev/vda rw reboot=k panic=1');
  });
});
