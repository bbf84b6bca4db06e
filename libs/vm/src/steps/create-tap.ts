import { ensureVmNetwork, getLink, LeaseStore, macForIp, tapNameFor, tapOwnerKey } from '@banger/network';
import type { Step } from '@banger/taskgraph';
import { vmRepository, type VmEnv } from '../vm-env.js';

/** Outputs of `vm.create-tap`. */
export interface CreateTapOutputs { ip: string; mac: string; tap: string }

/**
 * `vm.create-tap`: the VM's guest address (a lease in ip_leases owned by the
 * VM id), the bridge with the subnet's gateway address, guest NAT and IP
 * forwarding, and the VM's tap on the bridge, owned by the daemon's user and
 * aliased `banger:<this home's key>` (so another home's clean-up spares it).
 * Every part is ensure-style (create when missing, verify when present), so
 * it is also run on every `vm start` (a host reboot loses taps).
 */
export function createTapStep(env: VmEnv, vm: { id: string; name: string }): Step<CreateTapOutputs> {
  const { bridgeName: bridge, bridgeSubnet: subnet } = env.config;
  const tap = tapNameFor(vm.id);
  return {
    id: 'vm.create-tap',
    title: 'Set up the network (lease, bridge, NAT, tap)',
    needs: [],
    inputs: () => ({ bridge, subnet }),
    isSatisfied: async () => {
      if (!new LeaseStore(env.db).leaseOf(vm.id)) return { satisfied: false, reason: 'no address leased' };
      const link = await getLink(tap);
      if (!link) return { satisfied: false, reason: `tap ${tap} does not exist` };
      if (link.master !== bridge) return { satisfied: false, reason: `tap ${tap} is not on bridge ${bridge}` };
      return (await getLink(bridge)) !== undefined || { satisfied: false, reason: `bridge ${bridge} does not exist` };
    },
    run: async (_ctx, report) => {
      const ip = new LeaseStore(env.db).lease(subnet, vm.id);
      const mac = macForIp(ip);
      vmRepository(env).update(vm.id, { ip, mac, tap });
      report.line(`address ${ip}, tap ${tap} on ${bridge}`);
      await ensureVmNetwork({ bridge, subnet, tap, ownerUid: process.getuid?.() ?? 0, ownerKey: tapOwnerKey(env.paths.vmsDir) });
      return { ip, mac, tap };
    },
    hint: 'banger needs root or passwordless sudo for ip and nft; see banger doctor',
  };
}
