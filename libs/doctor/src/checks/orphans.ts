import type { DoctorCheck, OrphansProbe } from '../types.js';

/**
 * Leaked or orphaned resources (taps and bridge ports no VM owns, VM
 * directories without a record and records without a directory, stale IP
 * leases, hypervisor processes no VM records, unused agent runtime disks),
 * as a running daemon finds them (`vm.orphans`). Not required: they cost
 * resources but break nothing; `banger doctor --fix` removes them.
 */
export function orphansCheck(probe: OrphansProbe): DoctorCheck {
  return {
    id: 'orphans',
    title: 'leftovers',
    required: false,
    async run() {
      const orphans = await probe();
      if (orphans === undefined) return { status: 'ok', detail: 'not checked: bangerd is not running', hint: 'banger daemon start, then banger doctor again' };
      if (orphans.length === 0) return { status: 'ok', detail: 'no leaked tap, bridge port, VM directory or record, lease, hypervisor process or runtime disk' };
      return {
        status: 'warn',
        detail: `${orphans.length} leftover${orphans.length === 1 ? '' : 's'}: ${orphans.map((o) => o.detail).join('; ')}`,
        hint: 'banger doctor --fix removes them',
      };
    },
  };
}
