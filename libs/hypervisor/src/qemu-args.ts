import type { VmSpec } from './driver.js';
import { AGENT_SERIAL_NAME } from './driver.js';
import { vmFiles } from './vm-spec.js';

/** How QEMU should run: from selectHypervisor() plus the host TSC for TCG. */
export interface QemuArgsOptions {
  accel: 'kvm' | 'tcg';
  /** Host TSC in kHz (hostTscKhz()); required for a reliable TCG boot on microvm. */
  tscKhz?: number;
}

/** QEMU's option syntax doubles a comma inside a value. */
export const qemuEscape = (value: string): string => value.replaceAll(',', ',,');

/**
 * The kernel command line QEMU passes: the guest part from the VM layer plus,
 * under TCG, `tsc_early_khz=<host kHz> tsc=reliable`. microvm has no HPET or PM
 * timer, so a TSC calibration that fails under host load hangs the guest at
 * boot forever; the hint removes the calibration (measured: 0 hangs in 15
 * loaded boots, versus 2 of 4 without).
 */
export function qemuKernelCmdline(bootArgs: string, options: QemuArgsOptions): string {
  const parts = [bootArgs.trim()];
  if (options.accel === 'tcg' && options.tscKhz) parts.push(`tsc_early_khz=${options.tscKhz}`, 'tsc=reliable');
  return parts.filter(Boolean).join(' ');
}

/**
 * The full qemu-system-x86_64 argv for a spec (without the binary). Disks
 * are attached in spec order so the first is /dev/vda.
 */
export function buildQemuArgs(spec: VmSpec, options: QemuArgsOptions): string[] {
  const files = vmFiles(spec.vmDir);
  const args = [
    '-name', `${qemuEscape(spec.name)},process=banger-${spec.id}`,
    '-M', 'microvm',
    ...(options.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max']),
    '-m', String(spec.memoryMib),
    '-smp', String(spec.vcpu),
    '-nodefaults', '-no-user-config', '-nographic',
    // A guest reboot or panic ends the process, as with Firecracker (reboot=k panic=1).
    '-no-reboot',
    '-kernel', spec.kernel.vmlinux,
    '-initrd', spec.kernel.initrd,
    '-append', qemuKernelCmdline(spec.bootArgs, options),
    // append=on: the console log survives restarts of the same VM.
    '-chardev', `file,id=console,path=${qemuEscape(spec.consoleLogPath)},append=on`,
    '-serial', 'chardev:console',
  ];
  for (const disk of spec.disks) {
    args.push(
      '-drive', `id=${disk.id},file=${qemuEscape(disk.path)},format=raw,if=none,readonly=${disk.readOnly ? 'on' : 'off'}`,
      '-device', `virtio-blk-device,drive=${disk.id}`,
    );
  }
  if (spec.net) {
    args.push(
      '-netdev', `tap,id=net0,ifname=${spec.net.tap},script=no,downscript=no`,
      '-device', `virtio-net-device,netdev=net0,mac=${spec.net.mac}`,
    );
  }
  if (spec.agentSocketPath) {
    args.push(
      '-device', 'virtio-serial-device',
      '-chardev', `socket,id=agent,path=${qemuEscape(spec.agentSocketPath)},server=on,wait=off`,
      '-device', `virtserialport,chardev=agent,name=${AGENT_SERIAL_NAME}`,
    );
  }
  args.push(
    '-qmp', `unix:${qemuEscape(files.qmpSocket)},server=on,wait=off`,
    '-pidfile', files.qemuPidFile,
  );
  return args;
}
