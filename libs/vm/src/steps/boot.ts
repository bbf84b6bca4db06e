import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { NotFoundError, UserError } from '@banger/errors';
import { pinHostKey } from '@banger/ssh';
import { createDriver, processAlive, selectHypervisor, type VmHandle, type VmSpec as DriverSpec } from '@banger/hypervisor';
import { guestNetworkFor } from '@banger/network';
import type { Step } from '@banger/taskgraph';
import { vmBootArgs, vmDisks } from '../boot-args.js';
import { findKernel } from '@banger/kernels';
import { handleOf, kernelHome, knownHostsPath, vmDirOf, vmRepository, type VmEnv } from '../vm-env.js';
import type { VmCreateSpec, VmHypervisor } from '../vm-record.js';
import type { RuntimeDiskOutputs } from './runtime-disk.js';
import { recordBootedWith, type BootedWith } from '../suspended-state.js';
import { startOrResume } from '../start-or-resume.js';
import type { BuildRootfsOutputs } from './build-rootfs.js';
import type { SyncFilesOutputs } from './sync-files.js';
import { bootWarm } from '../warm/warm-boot.js';

/** Outputs of `vm.boot`. */
export interface BootOutputs { pid: number; startTime: string; hypervisor: string }

/**
 * `vm.boot`: the hypervisor process runs the VM. Satisfied when the process
 * with the recorded pid *and* start time is alive (a reused pid is not the
 * VM). Running it again adopts a VM that is still up (the driver's start is
 * idempotent given the existing handle). The pid is recorded as soon as the
 * driver returns, so a daemon killed right after still finds the VM. A new
 * warm VM is restored from its template and given its identity here, in the
 * same step, falling back to a cold boot when either fails (warm/warm-boot.ts);
 * until it has its identity the step is not satisfied.
 */
export function bootStep(
  env: VmEnv,
  vm: { id: string; name: string },
  needs: readonly string[],
  /** A warm VM: the cold disk steps, to rebuild its template copies when the restore or the identity fails, and its file_sync (identity). */
  warm?: { rootfs: Step<BuildRootfsOutputs>; work: Step<SyncFilesOutputs>; fileSync: VmCreateSpec['fileSync'] },
): Step<BootOutputs> {
  const dir = vmDirOf(env, vm.name);
  return {
    id: 'vm.boot',
    title: 'Boot the VM',
    needs,
    inputs: () => {
      const record = vmRepository(env).findById(vm.id);
      return { vcpu: String(record?.vcpu), memoryMib: String(record?.memoryMib) };
    },
    isSatisfied: () => {
      // Restored from the warm template, and the run stopped before the guest got this VM's identity.
      if (existsSync(dir.identityPending)) return { satisfied: false, reason: 'restored from the warm template: the guest is still the template' };
      const record = vmRepository(env).findById(vm.id);
      if (record?.pid === undefined || record.pidStartTime === undefined) return { satisfied: false, reason: 'no hypervisor process recorded' };
      return processAlive(record.pid, record.pidStartTime) || { satisfied: false, reason: `hypervisor process ${record.pid} is not running` };
    },
    run: async (ctx, report) => {
      const repo = vmRepository(env);
      const record = repo.findById(vm.id);
      if (!record) throw new NotFoundError('VM_NOT_FOUND', `vm ${vm.name} was deleted while it was being booted`);
      if (!record.ip || !record.mac || !record.tap) {
        throw new UserError('VM_NO_NETWORK', `vm ${vm.name} has no network yet`, { hint: `run banger vm create --name ${vm.name} again to finish it` });
      }
      const kernel = await findKernel(kernelHome(env), record.kernel);
      if (!kernel) {
        throw new NotFoundError('VM_KERNEL_MISSING', `vm ${vm.name}: its kernel ${record.kernel} is no longer pulled`, { hint: `pull it again: banger kernel pull ${record.kernel}` });
      }
      const choice = await selectHypervisor({
        preference: env.config.hypervisor,
        ...(env.config.firecrackerBin ? { firecrackerBin: env.config.firecrackerBin } : {}),
        ...(env.config.qemuBin ? { qemuBin: env.config.qemuBin } : {}),
      });
      const runtime = needs.includes('vm.runtime-disk') ? ctx.need<RuntimeDiskOutputs>('vm.runtime-disk') : undefined;
      const hypervisor: VmHypervisor = { kind: choice.kind, accel: choice.accel, binary: choice.binary, reason: choice.reason, ...(choice.warning ? { warning: choice.warning } : {}) };
      const network = guestNetworkFor({ ip: record.ip, hostname: vm.name }, env.config.bridgeSubnet);
      const spec: DriverSpec = {
        id: vm.id,
        name: vm.name,
        vcpu: record.vcpu,
        memoryMib: record.memoryMib,
        kernel: { vmlinux: kernel.paths.vmlinux, initrd: kernel.paths.initrd },
        bootArgs: vmBootArgs({ hostname: vm.name, network }),
        disks: vmDisks({ rootfs: dir.rootfs, workDisk: dir.workDisk, modules: kernel.paths.modules, ...(runtime?.path ? { runtime: runtime.path } : {}) }),
        net: { tap: record.tap, mac: record.mac },
        consoleLogPath: dir.consoleLog,
        agentSocketPath: dir.agentSocket,
        vmDir: dir.root,
      };
      const existing = handleOf(env, record);
      const driver = createDriver(choice);
      let bootedWith = { binary: choice.binary, spec };
      let handle: VmHandle | undefined;
      const recordStarted = async (started: VmHandle, startedWith: BootedWith): Promise<void> => {
        await recordBootedWith(dir, startedWith);
        repo.update(vm.id, {
          pid: started.pid,
          pidStartTime: started.startTime,
          hypervisor: choice.kind,
          spec: { ...record.spec, hypervisor },
          stateReason: null,
          ...(record.state === 'creating' ? {} : { state: 'running' as const }),
        });
        env.watcher.watch(vm.id, vm.name, hypervisor, started);
      };
      if (warm) {
        // A new warm VM: restore a copy of its template and give it its identity, or — when either fails — boot it cold.
        const warmed = await bootWarm(env, {
          vm: { id: vm.id, name: vm.name, fileSync: warm.fileSync },
          record, dir, driver, bootedWith, existing,
          alive: existing !== undefined && processAlive(existing.pid, existing.startTime),
          cold: warm, recordStarted, ctx, report,
        });
        if (warmed) ({ handle, bootedWith } = warmed);
      }
      if (!handle) {
        // Asked again: a warm fallback may have stopped the process recorded when the step began.
        const alive = existing !== undefined && processAlive(existing.pid, existing.startTime);
        const started = await startOrResume(driver, spec, {
          dir,
          vmName: vm.name,
          bootedWith,
          signal: ctx.signal,
          existing,
          existingAlive: alive,
          line: (text) => report.line(text),
        });
        handle = started.handle;
        if (started.resumed) await writeFile(dir.resyncPending, '');
      }
      await recordStarted(handle, bootedWith);
      // Pin before anyone can dial: `vm ssh` checks `<name>.vm` (HostKeyAlias), plain ssh the address.
      const publicKey = (await readFile(dir.hostPublicKey, 'utf8')).trim();
      await pinHostKey(knownHostsPath(env), { names: [`${vm.name}.vm`, record.ip], publicKey });
      report.line(`${choice.kind} (${choice.accel}) pid ${handle.pid}, console ${dir.consoleLog}`);
      return { pid: handle.pid, startTime: handle.startTime, hypervisor: choice.kind };
    },
    hint: `see the hypervisor log in the VM dir and banger vm logs ${vm.name}`,
  };
}
