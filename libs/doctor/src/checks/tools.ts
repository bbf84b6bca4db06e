import { installHint } from '@banger/host';
import type { CheckContext } from '../context.js';
import { versionIn } from '../context.js';
import { lookup } from '../env.js';
import type { DoctorCheck } from '../types.js';

/** A host tool banger runs, why, and how to ask it for its version. */
export interface ToolSpec {
  name: string;
  required: boolean;
  /** What banger needs it for; shown when it is missing. */
  purpose: string;
  /** Arguments that print a version (on stdout or stderr); omitted when the tool has none. */
  versionArgs?: string[];
}

/** The host tools `banger doctor` looks for, in report order. */
export const HOST_TOOLS: readonly ToolSpec[] = [
  { name: 'ip', required: true, purpose: 'bridge and tap setup', versionArgs: ['-V'] },
  { name: 'nft', required: true, purpose: 'NAT and forwarding rules for the bridge', versionArgs: ['--version'] },
  { name: 'mkfs.ext4', required: true, purpose: 'work disks and image root file systems', versionArgs: ['-V'] },
  { name: 'e2fsck', required: true, purpose: 'checking disks before resizing', versionArgs: ['-V'] },
  { name: 'resize2fs', required: true, purpose: 'growing VM disks to their size' },
  { name: 'debugfs', required: true, purpose: 'writing SSH host keys into a VM root file system', versionArgs: ['-V'] },
  { name: 'ssh', required: true, purpose: 'vm ssh and vm run', versionArgs: ['-V'] },
  { name: 'ssh-keygen', required: true, purpose: 'the managed SSH key and VM host keys' },
  { name: 'zstd', required: true, purpose: 'unpacking image and kernel bundles', versionArgs: ['--version'] },
  { name: 'git', required: false, purpose: 'workspace mode (vm run ./repo)', versionArgs: ['--version'] },
  { name: 'mmdebstrap', required: false, purpose: 'building Debian images locally', versionArgs: ['--version'] },
];

/** One host tool: found on PATH (or the sbin dirs), with its version when it reports one. */
export function toolCheck(ctx: CheckContext, tool: ToolSpec): DoctorCheck {
  return {
    id: `tool.${tool.name}`,
    title: tool.name,
    required: tool.required,
    async run() {
      const path = lookup(ctx.env, tool.name);
      if (!path) {
        return {
          status: tool.required ? 'fail' : 'warn',
          detail: `not found on PATH (needed for ${tool.purpose})`,
          hint: installHint(tool.name),
        };
      }
      if (!tool.versionArgs) return { status: 'ok', detail: path };
      const result = await ctx.env.exec(path, tool.versionArgs, { timeoutMs: 10_000 });
      const version = versionIn(`${result.stdout}\n${result.stderr}`);
      return { status: 'ok', detail: version ? `${path} (${version})` : path };
    },
  };
}
