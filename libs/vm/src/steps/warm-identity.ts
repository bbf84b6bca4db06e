import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InternalError } from '@banger/errors';
import { cleanStaleTemps, run, tempSibling } from '@banger/host';
import { stageWorkDisk, GUEST_HOST_KEY_PATH } from '@banger/disks';
import { guestNetworkFor, parseSubnet } from '@banger/network';
import { ensureUserKey } from '@banger/ssh';
import type { StepContext, StepReport } from '@banger/taskgraph';
import { userKeyPath, vmDirOf, vmRepository, type VmEnv } from '../vm-env.js';
import type { VmCreateSpec } from '../vm-record.js';
import { reseedGuestRng } from '../agent/reseed-guest-rng.js';
import { IDENTITY_SCRIPT } from '../warm/identity-script.js';
import { attachTap } from '../warm/warm-restore.js';

/** How long the agent of a just-restored guest may take to answer (it was running at the snapshot: it only reconnects). */
const RESTORED_AGENT_MS = 60_000;

/**
 * Gives a guest restored from a warm template this VM's identity (called by
 * `vm.boot`, right after the restore, in the same step: a failure here falls
 * back to a cold boot there). The guest is still the template — its
 * hostname, MAC, address, machine-id, host key, clock and RNG. Before anything
 * else can reach it (its tap is off the bridge until the end of this, and
 * `vm.wait-agent` / `vm.wait-ssh` come after the boot step), the agent: sets
 * the clock, rekeys the RNG, installs the VM's host key (the one `vm.boot`
 * pins), writes authorized_keys and the `[[file_sync]]` files into /root, and
 * runs the identity script (network as the cold path's `ip=` configures it,
 * resolv.conf, hostname, machine-id, sshd restarted). Then the tap goes back
 * on the bridge and `identity-pending` is removed. Returns applied: false
 * when no restore is waiting for it.
 */
export async function applyWarmIdentity(
  env: VmEnv,
  vm: { id: string; name: string; fileSync: VmCreateSpec['fileSync'] },
  ctx: Pick<StepContext, 'signal'>,
  report: StepReport,
): Promise<{ applied: boolean }> {
  const dir = vmDirOf(env, vm.name);
  if (!existsSync(dir.identityPending)) return { applied: false };
  const record = vmRepository(env).findById(vm.id);
  const links = env.agent?.links;
  if (!record?.ip || !record.mac || !record.tap || !links) throw new InternalError('WARM_IDENTITY_FAILED', `vm ${vm.name}: no address or agent link to give the restored guest its identity`);
  const started = Date.now();
  const client = await links.client(record, env.paths.vmsDir, { timeoutMs: RESTORED_AGENT_MS, signal: ctx.signal });
  report.line(`agent answered after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const must = async (what: string, result: Promise<{ code: number | null; stderr: Buffer }>): Promise<void> => {
    const r = await result;
    if (r.code !== 0) throw new InternalError('WARM_IDENTITY_FAILED', `vm ${vm.name}: ${what} failed in the restored guest: ${r.stderr.toString().trim().split('\n').pop() ?? `exit ${r.code}`}`);
  };
  const clock = await client.clock({ set: true });
  // Every guest restored from this template holds its CRNG key: rekeyed before anything reads it.
  const reseed = await reseedGuestRng(client).catch((error: unknown) => {
    throw new InternalError('WARM_IDENTITY_FAILED', `vm ${vm.name}: reseeding the RNG failed in the restored guest: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  });
  if (reseed.kind !== 'reseeded') throw new InternalError('WARM_IDENTITY_FAILED', `vm ${vm.name}: cannot reseed the restored guest's RNG: ${reseed.reason}`);
  // The host key pinned by vm.boot; sshd is restarted by the identity script.
  await client.putFile(GUEST_HOST_KEY_PATH, await readFile(dir.hostPrivateKey), { mode: 0o600, owner: 'root' });
  await client.putFile(`${GUEST_HOST_KEY_PATH}.pub`, await readFile(dir.hostPublicKey), { mode: 0o644, owner: 'root' });
  // /root as a cold VM's work disk has it: authorized_keys and [[file_sync]], staged the same way, then untarred over /root.
  const key = await ensureUserKey(userKeyPath(env));
  await cleanStaleTemps(join(dir.root, '.identity-staging'));
  const scratch = tempSibling(join(dir.root, '.identity-staging'));
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  try {
    await stageWorkDisk({ stagingDir: join(scratch, 'root'), authorizedKeys: key.publicKey, fileSync: vm.fileSync });
    const tar = await run('tar', ['-C', join(scratch, 'root'), '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', '.'], { binary: true });
    await must('writing /root', client.run({ argv: ['tar', '-xf', '-', '-C', '/root'] }, tar.stdoutBuffer ?? Buffer.alloc(0)));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  for (const entry of vm.fileSync) report.line(`file_sync ${entry.host} → ${entry.guest}`);
  const network = guestNetworkFor({ ip: record.ip, hostname: vm.name }, env.config.bridgeSubnet);
  const prefix = String(parseSubnet(env.config.bridgeSubnet).prefix);
  const machineId = randomBytes(16).toString('hex');
  const scriptStarted = Date.now();
  const script = client.run({ argv: ['sh', '-c', IDENTITY_SCRIPT, 'banger-identity', record.mac, record.ip, prefix, network.gateway, network.dns, vm.name, machineId] });
  await must('the identity script', script);
  const phases = (await script).stdout.toString().trim().split('\n').join(' s, ');
  report.line(`identity script ran in ${((Date.now() - scriptStarted) / 1000).toFixed(1)} s (${phases} s)`);
  await attachTap(env, record.tap);
  await rm(dir.identityPending, { force: true });
  report.line(`hostname ${vm.name}, ${record.ip} (${record.mac}), new machine-id and host key, clock (was ${(-clock.offsetMs / 1000).toFixed(1)} s off) and RNG reseeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { applied: true };
}
