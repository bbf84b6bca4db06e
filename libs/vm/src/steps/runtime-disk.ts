import { existsSync } from 'node:fs';
import type { Step } from '@banger/taskgraph';
import { ensureRuntimeDisk, runtimeFiles, runtimeKey, type RuntimeFile } from '../agent/runtime-disk.js';
import type { VmEnv } from '../vm-env.js';

/** Outputs of `vm.runtime-disk`: the disk to attach read-only, or why there is none. */
export interface RuntimeDiskOutputs {
  path?: string;
  key?: string;
  /** Why no disk is attached (the guest then has no agent; ssh still works). */
  missing?: string;
}

/**
 * `vm.runtime-disk`: the read-only disk with node, its libraries and loader,
 * and the agent bundle — one per content key (so per banger version and
 * node), shared by every VM, built on first use. Keyed by the content of its
 * files, so an upgraded banger or node gets a new disk and a VM started
 * afterwards gets it. A disk that cannot be built is a warning: the VM
 * boots without an agent and ssh still works.
 */
export function runtimeDiskStep(env: VmEnv): Step<RuntimeDiskOutputs> {
  const runtime = env.agent?.runtime;
  let files: Promise<RuntimeFile[]> | undefined;
  const filesOnce = () => (files ??= runtime ? runtimeFiles(runtime) : Promise.resolve([]));
  return {
    id: 'vm.runtime-disk',
    title: 'Guest agent runtime disk',
    needs: [],
    inputs: async () => {
      if (!runtime) return { key: 'none' };
      return { key: await runtimeKey(await filesOnce()).catch((error: Error) => `unavailable: ${error.message}`) };
    },
    isSatisfied: async (ctx) => {
      const previous = ctx.previousOutputs as RuntimeDiskOutputs | undefined;
      if (!runtime) return true;
      if (!previous?.path) return { satisfied: false, reason: 'no runtime disk yet' };
      return existsSync(previous.path) || { satisfied: false, reason: `${previous.path} is missing` };
    },
    run: async (ctx, report) => {
      if (!runtime) return { missing: 'this daemon has no agent runtime configured' };
      try {
        const built = await ensureRuntimeDisk(runtime.dir, await filesOnce(), { signal: ctx.signal });
        report.line(`${built.built ? 'built' : 'reusing'} ${built.path}`);
        return { path: built.path, key: built.key };
      } catch (error) {
        if (ctx.signal.aborted) throw error;
        const missing = `the agent runtime disk could not be built: ${(error as Error).message}`;
        report.line(`warning: ${missing}; the VM boots without its agent (ssh still works)`);
        ctx.log.warn({ err: error }, 'agent runtime disk failed');
        return { missing };
      }
    },
    hint: 'check free space in the state dir',
  };
}
