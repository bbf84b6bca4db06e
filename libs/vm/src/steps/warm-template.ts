import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CancelledError } from '@banger/errors';
import { serialized } from '@banger/host';
import { selectHypervisor } from '@banger/hypervisor';
import { findImage, type ImageRef } from '@banger/images';
import { findKernel } from '@banger/kernels';
import type { Step } from '@banger/taskgraph';
import { imageHome, kernelHome, userKeyPath, vmDirOf, vmRepository, type VmEnv } from '../vm-env.js';
import type { VmRecord } from '../vm-record.js';
import { runtimeDiskPath, runtimeFiles, runtimeKey } from '../agent/runtime-disk.js';
import { warmTemplatesOf } from '../warm/warm-housekeeping.js';
import { templateBuildKey } from '../warm/stale-template-builds.js';
import type { RuntimeDiskOutputs } from './runtime-disk.js';
import { buildWarmTemplate, readWarmTemplate, removeWarmTemplate, warmFingerprint, warmInputs, warmRoot, whyWarmTemplateDamaged, WarmTemplateDir, type WarmInputs } from '../warm/warm-template.js';

/** Outputs of `vm.warm-template`: the template to restore from, or why the VM boots cold. */
export interface WarmTemplateOutputs {
  dir?: string;
  fingerprint?: string;
  /** Set when there is no template: the disk steps build cold disks and the VM boots cold. */
  cold?: string;
}

/** How long a template guest may take to finish booting under TCG / KVM. */
const TEMPLATE_BOOT_TCG_MS = 300_000;
const TEMPLATE_BOOT_KVM_MS = 120_000;

/**
 * `vm.warm-template`: the warm template of this VM's inputs — image (name
 * and content digest), kernel, agent runtime disk and unit, QEMU, vcpu,
 * memory, disk size and the template revision — booted once to the end of
 * its boot and saved (`<state>/warm/<fingerprint>/`). Its inputs are those
 * fields, so a new image, kernel or agent shows in the plan as the reason it
 * runs; a template already on disk is reused (one build at a time per
 * fingerprint). A template that cannot be built is a warning: the VM boots
 * cold. Satisfied once the VM has its disks: a created VM never needs it again.
 */
export function warmTemplateStep(env: VmEnv, vm: { id: string; name: string; record?: VmRecord }): Step<WarmTemplateOutputs> {
  const dir = vmDirOf(env, vm.name);
  const inputsFrom = async (outputs: Readonly<Record<string, unknown>>): Promise<WarmInputs | undefined> => {
    const image = outputs['vm.fetch-image'] as ImageRef | undefined;
    const runtime = outputs['vm.runtime-disk'] as RuntimeDiskOutputs | undefined;
    const record = vmRepository(env).findById(vm.id) ?? vm.record;
    if (!image || !record) return undefined;
    const kernel = await findKernel(kernelHome(env), record.kernel);
    if (!kernel || !runtime?.path) return undefined;
    return warmInputs({
      image,
      kernel: { name: kernel.name, paths: kernel.paths },
      runtimeDisk: runtime.path,
      hypervisor: record.spec.hypervisor,
      vcpu: record.vcpu,
      memoryMib: record.memoryMib,
      diskBytes: record.diskBytes,
    });
  };
  /** What the run will do, for the plan: reuse a template, or build one and why (which input differs from the image's other templates). */
  const plannedTemplate = async (): Promise<string> => {
    const record = vmRepository(env).findById(vm.id) ?? vm.record;
    const image = record ? findImage(imageHome(env), record.image) : undefined;
    const runtime = env.agent?.runtime;
    if (!record || !image || !runtime) return 'new VM: its template is looked up once the image and the agent runtime are there';
    const key = await runtimeKey(await runtimeFiles(runtime)).catch(() => undefined);
    const kernel = await findKernel(kernelHome(env), record.kernel);
    if (!key || !kernel) return 'new VM: its template is looked up once the kernel and the agent runtime are there';
    const inputs = warmInputs({ image, kernel: { name: kernel.name, paths: kernel.paths }, runtimeDisk: runtimeDiskPath(runtime.dir, key), hypervisor: record.spec.hypervisor, vcpu: record.vcpu, memoryMib: record.memoryMib, diskBytes: record.diskBytes });
    const fingerprint = warmFingerprint(inputs);
    const templateDir = new WarmTemplateDir(join(warmRoot(env.paths.vmsDir), fingerprint));
    if (readWarmTemplate(templateDir)) return `new VM: restores a copy of template ${fingerprint}`;
    const damaged = whyWarmTemplateDamaged(templateDir);
    if (damaged) return `new VM: template ${fingerprint} is damaged (${damaged}): removes it and boots cold (the next run builds it again)`;
    const others = (await warmTemplatesOf(env.paths.vmsDir, image.name)).map((t) => readWarmTemplate(new WarmTemplateDir(t.dir))).filter((m) => m !== undefined);
    const closest = others
      .map((m) => ({ m, changed: (Object.keys(inputs) as Array<keyof WarmInputs>).filter((k) => m.inputs[k] !== inputs[k]) }))
      .sort((a, b) => a.changed.length - b.changed.length)[0];
    return closest
      ? `no template ${fingerprint} yet (template ${closest.m.fingerprint} of ${image.name} has another ${closest.changed.join(', ')}): builds one, a boot and a save`
      : `no template of ${image.name} for these inputs yet: builds ${fingerprint}, a boot and a save`;
  };
  return {
    id: 'vm.warm-template',
    title: 'Warm template (boot once, snapshot, reuse)',
    needs: ['vm.fetch-kernel', 'vm.fetch-image', 'vm.runtime-disk'],
    inputs: async (ctx) => {
      const inputs = await inputsFrom(ctx.outputs);
      return inputs ? ({ ...inputs } as Record<string, string>) : { template: 'not known yet (the image or kernel is not fetched)' };
    },
    isSatisfied: async () => {
      if (existsSync(dir.rootfs)) return true;
      return { satisfied: false, reason: await plannedTemplate() };
    },
    // A new VM's step `never ran`: the plan still says whether its template is reused or built, and why.
    plans: async () => (existsSync(dir.rootfs) ? undefined : plannedTemplate()),
    run: async (ctx, report) => {
      const inputs = await inputsFrom(ctx.outputs);
      const runtime = ctx.need<RuntimeDiskOutputs>('vm.runtime-disk');
      if (!inputs) return { cold: runtime.path ? 'its kernel is not registered' : `no agent runtime disk (${runtime.missing ?? 'not built'})` };
      const fingerprint = warmFingerprint(inputs);
      const root = join(warmRoot(env.paths.vmsDir), fingerprint);
      return serialized(templateBuildKey(root), async () => {
        const existing = readWarmTemplate(new WarmTemplateDir(root));
        if (existing) {
          report.line(`template ${fingerprint} (built ${existing.createdAt})`);
          return { dir: root, fingerprint };
        }
        // Damaged after it was built (or by another banger version): never restored from, never silently rebuilt over.
        const damaged = whyWarmTemplateDamaged(new WarmTemplateDir(root));
        if (damaged) {
          await removeWarmTemplate(root);
          report.line(`warning: warm template ${fingerprint} is damaged (${damaged}); removed it, booting vm ${vm.name} cold`);
          return { cold: `template ${fingerprint} was damaged` };
        }
        const record = vmRepository(env).findById(vm.id);
        const kernel = record ? await findKernel(kernelHome(env), record.kernel) : undefined;
        if (!record || !kernel || !runtime.path) return { cold: 'the VM or its kernel disappeared' };
        // Why it is built (no template of the image yet, or which input differs from the one there is).
        report.line((await plannedTemplate()).replace(/^new VM: /, ''));
        try {
          const choice = await selectHypervisor({
            preference: env.config.hypervisor,
            ...(env.config.firecrackerBin ? { firecrackerBin: env.config.firecrackerBin } : {}),
            ...(env.config.qemuBin ? { qemuBin: env.config.qemuBin } : {}),
          });
          await buildWarmTemplate({
            root,
            fingerprint,
            inputs,
            image: ctx.need<ImageRef>('vm.fetch-image'),
            kernel: kernel.paths,
            runtimeDisk: runtime.path,
            choice,
            vcpu: record.vcpu,
            memoryMib: record.memoryMib,
            diskBytes: record.diskBytes,
            bridgeSubnet: env.config.bridgeSubnet,
            userKeyPath: userKeyPath(env),
            hostVersion: env.agent?.links.hostVersion ?? 'unknown',
            signal: ctx.signal,
            line: (text) => report.line(text),
            bootTimeoutMs: choice.accel === 'tcg' ? TEMPLATE_BOOT_TCG_MS : TEMPLATE_BOOT_KVM_MS,
          });
          return { dir: root, fingerprint };
        } catch (error) {
          if (ctx.signal.aborted || error instanceof CancelledError) throw error;
          const why = (error as Error).message.split('\n')[0] ?? 'unknown error';
          report.line(`warning: could not build the warm template (${why}); booting vm ${vm.name} cold`);
          return { cold: why };
        }
      });
    },
    hint: 'warm start is optional: banger vm run --cold, or warm_start = false in config.toml',
  };
}
