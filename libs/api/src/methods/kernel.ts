import * as z from 'zod';
import { lazySchema } from '@banger/taskgraph';
import { StepEventSchema } from '@banger/taskgraph';
import { defineMethod } from '../method.js';

/**
 * The `--explain` answer of a streamed graph method: the plan with the reason
 * for every step (`PlanSummary` of @banger/taskgraph). Nothing was changed.
 */
export const planSummarySchema = lazySchema(() => z.object({
  graphId: z.string(),
  steps: z.array(
    z.object({ id: z.string(), title: z.string(), needs: z.array(z.string()), action: z.enum(['run', 'skip']), reason: z.string() }),
  ),
  conflicts: z.array(z.object({ stepId: z.string(), title: z.string(), description: z.string() })),
}));
export type PlanSummaryWire = z.infer<typeof planSummarySchema>;

/** A registered kernel, as `kernel list`/`kernel show` print it. */
export const kernelInfoSchema = lazySchema(() => z.object({
  name: z.string(),
  /** Kernel release (`uname -r`), e.g. `6.1.0-57-cloud-amd64`. */
  version: z.string(),
  /** The bundle directory (manifest.json, vmlinux, initrd.img, modules.ext4, config). */
  dir: z.string(),
  /** Debian package and version it was built from. */
  source: z.object({ package: z.string(), packageVersion: z.string() }),
  /** Modules the initrd loads at boot. */
  bootModules: z.array(z.string()),
  /** ISO 8601 time the bundle was built. */
  builtAt: z.string(),
  /** ISO 8601 time it was registered here. */
  registeredAt: z.string(),
  /** Total size of the bundle's files in bytes. */
  sizeBytes: z.number().int().nonnegative(),
  /** Names of the VMs that use it (they block `kernel rm`). */
  usedBy: z.array(z.string()),
}));
export type KernelInfo = z.infer<typeof kernelInfoSchema>;

/** One kernel catalog entry, with whether it is registered here. */
export const kernelCatalogEntrySchema = lazySchema(() => z.object({
  name: z.string(),
  description: z.string(),
  recipe: z.object({ debPackage: z.string() }).optional(),
  bundle: z.object({ url: z.string(), sha256: z.string() }).optional(),
  /** An `oci://` bundle reference (pulled from a registry; wins over `bundle`). */
  oci: z.string().optional(),
  installed: z.boolean(),
}));
export type KernelCatalogEntryWire = z.infer<typeof kernelCatalogEntrySchema>;

const nameParam = lazySchema(() => z.string().min(1).max(200));

/** `banger kernel …`: kernel bundles, their catalog and their records. */
export const kernelMethods = {
  'kernel.list': defineMethod(() => ({
    description: 'Lists the registered kernels, sorted by name.',
    params: z.object({}).optional(),
    result: z.array(kernelInfoSchema),
  })),
  'kernel.show': defineMethod(() => ({
    description: 'Shows one registered kernel.',
    params: z.object({ name: nameParam }),
    result: kernelInfoSchema,
  })),
  'kernel.catalog': defineMethod(() => ({
    description: 'Lists the kernel catalog: the embedded entries overlaid by config kernel_catalog_url.',
    params: z.object({}).optional(),
    result: z.object({ entries: z.array(kernelCatalogEntrySchema), source: z.string().optional() }),
  })),
  'kernel.pull': defineMethod(() => ({
    description: 'Downloads (or builds from its Debian package) a catalog kernel and registers it; streams task-graph events.',
    params: z.object({ name: nameParam, explain: z.boolean().optional() }),
    /** `plan` when `explain` was asked (nothing changed), else the registered `kernel`. */
    result: z.object({ plan: planSummarySchema.optional(), kernel: kernelInfoSchema.optional() }),
    event: StepEventSchema,
  })),
  'kernel.build': defineMethod(() => ({
    description: 'Builds a kernel bundle from a Debian kernel package with the host apt and registers it; streams task-graph events.',
    params: z.object({
      debPackage: z.string().min(1).max(200),
      name: nameParam.optional(),
      /** Also push the bundle to this registry reference (`oci://registry[:port]/repository[:tag]`). */
      publish: z.string().regex(/^oci:\/\//, 'must be an oci:// reference').optional(),
      explain: z.boolean().optional(),
    }),
    result: z.object({
      plan: planSummarySchema.optional(),
      kernel: kernelInfoSchema.optional(),
      /** The reference and manifest digest the bundle was pushed as, when `publish` was given. */
      published: z.object({ reference: z.string(), digest: z.string() }).optional(),
    }),
    event: StepEventSchema,
  })),
  'kernel.import': defineMethod(() => ({
    description: 'Copies a kernel bundle directory (verified) into banger and registers it.',
    params: z.object({ dir: z.string().min(1), name: nameParam.optional() }),
    result: kernelInfoSchema,
  })),
  'kernel.publish': defineMethod(() => ({
    description: 'Pushes a registered kernel bundle to an OCI registry as a banger bundle artifact (oci://registry[:port]/repository[:tag]); streams task-graph events.',
    params: z.object({ name: nameParam, reference: z.string().regex(/^oci:\/\//, 'must be an oci:// reference'), explain: z.boolean().optional() }),
    result: z.object({ plan: planSummarySchema.optional(), published: z.object({ reference: z.string(), digest: z.string() }).optional() }),
    event: StepEventSchema,
  })),
  'kernel.rm': defineMethod(() => ({
    description: 'Removes a kernel (bundle directory and record); refused while a VM uses it.',
    params: z.object({ name: nameParam }),
    result: z.object({ name: z.string(), dir: z.string() }),
  })),
};
