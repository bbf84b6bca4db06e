import type { CheckContext } from '../context.js';
import type { DoctorCheck } from '../types.js';

/**
 * The host SSH key banger authorises in guests. A configured `ssh_key_path`
 * must exist (with its `.pub` beside it) or no VM can be reached; the managed
 * key is created on first use, so its absence is fine.
 */
export function sshKeyCheck(ctx: CheckContext): DoctorCheck {
  const configured = ctx.config.sshKeyPath;
  return {
    id: 'ssh-key',
    title: 'ssh key',
    required: true,
    async run() {
      const { env } = ctx;
      if (!configured) {
        const managed = ctx.paths.managedKeyFile;
        return env.fileKind(managed) === 'file'
          ? { status: 'ok', detail: `managed key ${managed}` }
          : { status: 'ok', detail: `managed key ${managed} (created on first use)` };
      }
      const kind = env.fileKind(configured);
      if (kind !== 'file') {
        return {
          status: 'fail',
          detail: `ssh_key_path = "${configured}" ${kind === undefined ? 'does not exist' : 'is not a file'}`,
          hint: `create it (ssh-keygen -t ed25519 -f ${configured}) or remove ssh_key_path to let banger manage a key`,
        };
      }
      if (env.fileKind(`${configured}.pub`) !== 'file') {
        return {
          status: 'fail',
          detail: `ssh_key_path = "${configured}" has no public key ${configured}.pub beside it`,
          hint: `write it with: ssh-keygen -y -f ${configured} > ${configured}.pub`,
        };
      }
      return { status: 'ok', detail: `${configured} (from ssh_key_path)` };
    },
  };
}
