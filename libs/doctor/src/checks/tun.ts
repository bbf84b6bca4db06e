import type { CheckContext } from '../context.js';
import type { DoctorCheck } from '../types.js';

const TUN = '/dev/net/tun';

/** /dev/net/tun: every VM's network interface is a tap device opened through it. */
export function tunCheck(ctx: CheckContext): DoctorCheck {
  return {
    id: 'tun',
    title: TUN,
    required: true,
    async run() {
      const { env } = ctx;
      const kind = env.fileKind(TUN);
      if (kind !== 'char-device') {
        return {
          status: 'fail',
          detail: kind === undefined ? `${TUN} does not exist: VMs cannot get a network interface` : `${TUN} is not a character device`,
          hint: 'load the tun module: sudo modprobe tun (and add "tun" to /etc/modules-load.d/ to keep it)',
        };
      }
      if (!env.isRoot && !env.canReadWrite(TUN)) {
        return { status: 'warn', detail: `${TUN} exists but uid ${env.uid} cannot open it`, hint: `make it world-accessible as distributions do: sudo chmod 0666 ${TUN}` };
      }
      return { status: 'ok', detail: `${TUN} is present` };
    },
  };
}
