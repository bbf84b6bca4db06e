import type { Step } from '@banger/taskgraph';
import { ensureImage, ensureKernel, findImage, findKernel, type ImageRef } from '../resources.js';
import { resourcePaths, type VmEnv } from '../vm-env.js';

/** Outputs of `vm.fetch-kernel`. */
export interface FetchKernelOutputs { name: string; version: string; dir: string }

/** `vm.fetch-kernel`: the VM's kernel bundle is registered and intact (pulled on demand). */
export function fetchKernelStep(env: VmEnv, kernel: string): Step<FetchKernelOutputs> {
  return {
    id: 'vm.fetch-kernel',
    title: `Fetch kernel ${kernel}`,
    needs: [],
    inputs: () => ({ kernel }),
    isSatisfied: async () => (await findKernel(env.db, kernel)) !== undefined || { satisfied: false, reason: `kernel ${kernel} is not pulled` },
    run: async (ctx, report) => {
      const ref = await ensureKernel(env.db, resourcePaths(env), kernel, { signal: ctx.signal, progress: report });
      return { name: ref.name, version: ref.version, dir: ref.paths.dir };
    },
    hint: `pull it by hand to see the details: banger kernel pull ${kernel}`,
  };
}

/** `vm.fetch-image`: the VM's image is registered and its rootfs exists (pulled on demand). */
export function fetchImageStep(env: VmEnv, image: string): Step<ImageRef> {
  return {
    id: 'vm.fetch-image',
    title: `Fetch image ${image}`,
    needs: [],
    inputs: () => ({ image }),
    isSatisfied: () => findImage(env.db, image) !== undefined || { satisfied: false, reason: `image ${image} is not pulled` },
    run: (ctx, report) => ensureImage(env.db, resourcePaths(env), image, { signal: ctx.signal, progress: report }),
    hint: `pull it by hand to see the details: banger image pull ${image}`,
  };
}
