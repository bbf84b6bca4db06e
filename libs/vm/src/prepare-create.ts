import { lstat } from 'node:fs/promises';
import { applySpecOverrides, currentHostFacts, resolveVmDefaults, type HostFacts, type VmSpec as SizingSpec } from '@banger/config';
import { ConflictError, UserError } from '@banger/errors';
import { resolveFileSync } from '@banger/disks';
import { selectHypervisor, whyNoWarmStart } from '@banger/hypervisor';
import { assertImageKnown, findImage } from '@banger/images';
import { assertKernelKnown } from '@banger/kernels';
import { imageHome, kernelHome, vmRepository, type VmEnv } from './vm-env.js';
import { nameFreed } from './removal-turn.js';
import { assertVmName, generateVmName } from './vm-name.js';
import { newVmId, type VmCreateSpec, type VmRecord } from './vm-record.js';

/** What `vm create` was asked for; absent fields are decided by banger. */
export interface CreateVmParams {
  name?: string;
  image?: string;
  kernel?: string;
  vcpu?: number;
  memoryMib?: number;
  diskBytes?: number;
  /** `--cold`: boot this VM cold even when warm_start is on. */
  cold?: boolean;
}

/** The VM a create will make (not yet saved when `isNew`), and the sizing it will get. */
export interface PreparedCreate {
  record: VmRecord;
  isNew: boolean;
  sizing: SizingSpec;
}

const GiB = 2 ** 30;
const fmtSize = (bytes: number): string => (bytes % GiB === 0 ? `${bytes / GiB}G` : `${Math.round(bytes / 2 ** 20)}M`);

/**
 * Validates a create request before anything is written — the name, the
 * image and kernel (registered, adoptable or in a catalog), the sizing, the
 * disk against the image size, every `[[file_sync]]` entry and its host
 * path, the hypervisor — and returns the VM to create. For an existing name
 * it returns that VM when the explicitly requested inputs match it (the
 * create then resumes or skips), else a ConflictError naming each changed
 * input: nothing is ever recreated silently.
 */
export async function prepareCreate(env: VmEnv, params: CreateVmParams, options: { signal?: AbortSignal; host?: HostFacts; stateDir?: string } = {}): Promise<PreparedCreate> {
  const repo = vmRepository(env);
  if (params.name !== undefined) assertVmName(params.name);
  if (params.name !== undefined) await nameFreed(env, params.name);
  const existing = params.name !== undefined ? repo.find(params.name) : undefined;
  if (existing) {
    const changed: string[] = [];
    const compare = (what: string, asked: string | number | undefined, has: string | number, show = (v: string | number) => String(v)) => {
      if (asked !== undefined && asked !== has) changed.push(`${what} ${show(has)} (asked: ${show(asked)})`);
    };
    compare('image', params.image, existing.image);
    compare('kernel', params.kernel, existing.kernel);
    compare('vcpu', params.vcpu, existing.vcpu);
    compare('memory', params.memoryMib, existing.memoryMib, (v) => `${v} MiB`);
    compare('disk', params.diskBytes, existing.diskBytes, (v) => fmtSize(Number(v)));
    if (changed.length > 0) {
      throw new ConflictError('VM_EXISTS_DIFFERENT', `vm ${existing.name} exists with ${changed.join(', ')}; delete it first or use another name`, {
        hint: `banger vm delete ${existing.name}, or pick another --name`,
      });
    }
    const sizing: SizingSpec = {
      vcpu: existing.spec.vcpu as SizingSpec['vcpu'],
      memoryMib: existing.spec.memoryMib as SizingSpec['memoryMib'],
      diskBytes: existing.spec.diskBytes as SizingSpec['diskBytes'],
    };
    return { record: existing, isNew: false, sizing };
  }

  const name = params.name ?? generateVmName((n) => repo.nameTaken(n));
  const image = params.image ?? env.config.defaultImageName;
  await assertImageKnown(imageHome(env), image, options.signal);
  const local = findImage(imageHome(env), image);
  const kernel = params.kernel ?? local?.defaultKernel ?? env.config.defaultKernelName;
  await assertKernelKnown(kernelHome(env), kernel, options.signal);

  const defaults = resolveVmDefaults(env.config, options.host ?? currentHostFacts(options.stateDir));
  const sizing = applySpecOverrides(defaults, {
    ...(params.vcpu !== undefined ? { vcpu: params.vcpu } : {}),
    ...(params.memoryMib !== undefined ? { memoryMib: params.memoryMib } : {}),
    ...(params.diskBytes !== undefined ? { diskBytes: params.diskBytes } : {}),
  });
  // `vm create` spells the disk flag --disk.
  if (sizing.diskBytes.source === 'flag') sizing.diskBytes = { ...sizing.diskBytes, detail: '--disk' };
  if (!Number.isInteger(sizing.vcpu.value) || sizing.vcpu.value < 1 || sizing.vcpu.value > 32) {
    throw new UserError('VM_BAD_VCPU', `vcpu ${sizing.vcpu.value} (${sizing.vcpu.detail}) must be a whole number from 1 to 32`);
  }
  if (!Number.isInteger(sizing.memoryMib.value) || sizing.memoryMib.value < 128) {
    throw new UserError('VM_BAD_MEMORY', `memory ${sizing.memoryMib.value} MiB (${sizing.memoryMib.detail}) must be at least 128 MiB`);
  }
  if (local && sizing.diskBytes.value < local.sizeBytes) {
    throw new UserError('VM_DISK_TOO_SMALL', `disk ${fmtSize(sizing.diskBytes.value)} (${sizing.diskBytes.detail}) is smaller than image ${image} (${fmtSize(Math.ceil(local.sizeBytes / GiB) * GiB)})`, {
      hint: `use --disk ${Math.ceil(local.sizeBytes / GiB)}G or more`,
    });
  }

  const fileSync: VmCreateSpec['fileSync'] = [];
  for (const [index, entry] of env.config.fileSync.entries()) {
    const resolved = resolveFileSync(entry, index);
    try {
      await lstat(resolved.host);
    } catch {
      throw new UserError('FILE_SYNC_HOST_MISSING', `file_sync[${index}] in ${env.config.source}: host path ${resolved.host} does not exist`, {
        hint: 'create it, or remove the entry from config.toml',
      });
    }
    fileSync.push({ host: resolved.host, guest: resolved.guest, ...(entry.mode !== undefined ? { mode: entry.mode } : {}) });
  }

  const choice = await selectHypervisor({
    preference: env.config.hypervisor,
    ...(env.config.firecrackerBin ? { firecrackerBin: env.config.firecrackerBin } : {}),
    ...(env.config.qemuBin ? { qemuBin: env.config.qemuBin } : {}),
  });
  const spec: VmCreateSpec = {
    image,
    kernel,
    vcpu: sizing.vcpu,
    memoryMib: sizing.memoryMib,
    diskBytes: sizing.diskBytes,
    hypervisor: { kind: choice.kind, accel: choice.accel, binary: choice.binary, ...(choice.version ? { version: choice.version } : {}), reason: choice.reason, ...(choice.warning ? { warning: choice.warning } : {}) },
    fileSync,
    // Warm start needs a hypervisor that can give a restored template its own devices (QEMU; Firecracker ≥ 1.16).
    ...((env.config.warmStart ?? true) && params.cold !== true && whyNoWarmStart(choice) === undefined ? { warm: true } : {}),
  };
  const now = Date.now();
  const record: VmRecord = {
    id: newVmId(),
    name,
    state: 'creating',
    image,
    kernel,
    hypervisor: choice.kind,
    vcpu: sizing.vcpu.value,
    memoryMib: sizing.memoryMib.value,
    diskBytes: sizing.diskBytes.value,
    spec,
    createdAt: now,
    updatedAt: now,
  };
  return { record, isNew: true, sizing };
}
