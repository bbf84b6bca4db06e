import { findImage, pullCatalogImage, type ImageRef } from '@banger/images';
import { findKernel, pullKernel } from '@banger/kernels';
import { NotFoundError } from '@banger/errors';
import { nestedEmit, type Step } from '@banger/taskgraph';
import { imageHome, kernelHome, type VmEnv } from '../vm-env.js';

/** Outputs of `vm.fetch-kernel`. */
export interface FetchKernelOutputs { name: string; version: string; dir: string }

/**
 * `vm.fetch-kernel`: the VM's kernel bundle is registered and intact. When
 * it is not, the step runs the very graph `banger kernel pull` runs
 * (`kernel:<name>`: same lock, same cache, same record), so a concurrent
 * pull and create download once.
 */
export function fetchKernelStep(env: VmEnv, kernel: string): Step<FetchKernelOutputs> {
  return {
    id: 'vm.fetch-kernel',
    title: `Fetch kernel ${kernel}`,
    needs: [],
    inputs: () => ({ kernel }),
    isSatisfied: async () => (await findKernel(kernelHome(env), kernel)) !== undefined || { satisfied: false, reason: `kernel ${kernel} is not pulled` },
    run: async (ctx, report) => {
      // Registered and intact (a new VM's graph runs this step once even then): nothing to pull, and no
      // nested kernel graph (≈ 0.3 s of the daemon's CPU beside the clone and the work disk: issue 19).
      const registered = await findKernel(kernelHome(env), kernel);
      if (registered) return { name: registered.name, version: registered.version, dir: registered.paths.dir };
      await pullKernel(kernelHome(env), kernel, env.runGraph, { signal: ctx.signal, emit: nestedEmit(report), adoptLocal: true });
      const ref = await findKernel(kernelHome(env), kernel);
      if (!ref) throw new NotFoundError('VM_KERNEL_MISSING', `kernel ${kernel}: no intact bundle after the pull`, { hint: `pull it again: banger kernel pull ${kernel}` });
      return { name: ref.name, version: ref.version, dir: ref.paths.dir };
    },
    hint: `pull it by hand to see the details: banger kernel pull ${kernel}`,
  };
}

/**
 * `vm.fetch-image`: the VM's image is registered and its rootfs exists.
 * When it is not, the step runs the very graph `banger image pull` runs
 * (`image:<name>` lock and graph, same cache dir, same record).
 */
export function fetchImageStep(env: VmEnv, image: string): Step<ImageRef> {
  return {
    id: 'vm.fetch-image',
    title: `Fetch image ${image}`,
    needs: [],
    inputs: () => ({ image }),
    isSatisfied: () => findImage(imageHome(env), image) !== undefined || { satisfied: false, reason: `image ${image} is not pulled` },
    run: async (ctx, report) => {
      // Registered meanwhile (an OCI pull, another VM's fetch): nothing to pull.
      const found = findImage(imageHome(env), image);
      if (found) return found;
      await pullCatalogImage(imageHome(env), image, env.runGraph, { signal: ctx.signal, emit: nestedEmit(report), adoptLocal: true });
      const ref = findImage(imageHome(env), image);
      if (!ref) throw new NotFoundError('VM_IMAGE_MISSING', `image ${image}: its rootfs is missing after the pull`, { hint: `pull it again: banger image pull ${image}` });
      return ref;
    },
    hint: `pull it by hand to see the details: banger image pull ${image}`,
  };
}
