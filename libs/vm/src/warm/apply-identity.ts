import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentClient, ClockResult } from '@banger/agent';
import { stageWorkDisk, GUEST_HOST_KEY_PATH } from '@banger/disks';
import { CancelledError, InternalError } from '@banger/errors';
import { cleanStaleTemps, run, tempSibling } from '@banger/host';
import type { StepReport } from '@banger/taskgraph';
import { reseedGuestRng } from '../agent/reseed-guest-rng.js';
import type { VmCreateSpec } from '../vm-record.js';
import type { VmDir } from '../vm-dir.js';
import { IDENTITY_SCRIPT, identityFiles, ipBatch, localIpv4Addresses, type GuestAddress } from './identity-script.js';

/** How long eth0 may take to hold exactly the VM's address once the script ran (it normally does at once). */
const ADDRESS_SETTLE_MS = 10_000;
/** eth0's addresses are read this often meanwhile (one in-process read in the agent). */
const ADDRESS_POLL_MS = 100;

/** What a restored guest is given (`writeWarmIdentity`). */
export interface WarmIdentity {
  name: string;
  mac: string;
  address: GuestAddress;
  /** The user's public key, for /root/.ssh/authorized_keys. */
  authorizedKeys: string;
  fileSync: VmCreateSpec['fileSync'];
  /** The VM's directory: its host key pair, and scratch space for staging /root. */
  dir: VmDir;
}

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

/**
 * Gives a guest restored from a warm template this VM's identity through its
 * agent: the clock set to the host's, the kernel RNG rekeyed (banger-reseed),
 * the VM's host key, /root as a cold VM's work disk has it (authorized_keys
 * and `[[file_sync]]`), the network file, resolv.conf, hostname, /etc/hosts
 * and a fresh machine-id; then the script (`IDENTITY_SCRIPT`: eth0's MAC,
 * addresses and route, the kernel's hostname, sshd re-executed), and a check
 * that eth0 answers for this VM's address only. Under TCG each process the
 * guest starts costs 0.2–0.9 s, so the files are written by the agent itself,
 * all requests of the first part are in flight at once, and the guest starts
 * date (the clock), banger-reseed, tar (only with `[[file_sync]]`), sh and ip.
 * Throws WARM_IDENTITY_FAILED naming what failed.
 */
export async function writeWarmIdentity(client: AgentClient, identity: WarmIdentity, report: StepReport, signal: AbortSignal): Promise<{ clock: ClockResult }> {
  const fail = (what: string, cause?: unknown): InternalError => new InternalError('WARM_IDENTITY_FAILED', `vm ${identity.name}: ${what}`, cause === undefined ? undefined : { cause });
  const must = async (what: string, result: Promise<{ code: number | null; stderr: Buffer }>): Promise<void> => {
    const r = await result;
    if (r.code !== 0) throw fail(`${what} failed in the restored guest: ${r.stderr.toString().trim().split('\n').pop() ?? `exit ${r.code}`}`);
  };
  const { dir } = identity;
  const started = Date.now();
  const [clock] = await Promise.all([
    client.clock({ set: true }),
    // Every guest restored from this template holds its CRNG key: rekeyed before sshd re-executes (the script, below).
    reseedGuestRng(client).then(
      (reseed) => {
        if (reseed.kind !== 'reseeded') throw fail(`cannot reseed the restored guest's RNG: ${reseed.reason}`);
      },
      (error: unknown) => {
        throw fail(`reseeding the RNG failed in the restored guest: ${error instanceof Error ? error.message : String(error)}`, error);
      },
    ),
    // The host key pinned by vm.boot; the script has sshd re-read it.
    readFile(dir.hostPrivateKey).then((key) => client.putFile(GUEST_HOST_KEY_PATH, key, { mode: 0o600, owner: 'root' })),
    readFile(dir.hostPublicKey).then((key) => client.putFile(`${GUEST_HOST_KEY_PATH}.pub`, key, { mode: 0o644, owner: 'root' })),
    writeRoot(client, identity, must),
    client
      .readFile('/etc/hosts')
      .then((hosts) => hosts.content.toString(), () => '127.0.0.1 localhost\n')
      .then((hosts) => identityFiles({ name: identity.name, machineId: randomBytes(16).toString('hex'), address: identity.address, hosts }))
      .then((files) => Promise.all(files.map((file) => client.putFile(file.path, Buffer.from(file.content), { mode: file.mode, owner: 'root' })))),
  ]);
  for (const entry of identity.fileSync) report.line(`file_sync ${entry.host} → ${entry.guest}`);
  const written = Date.now();
  await must('the identity script', client.run({ argv: ['sh', '-c', IDENTITY_SCRIPT, 'banger-identity', identity.name] }, ipBatch(identity.mac, identity.address)));
  const scripted = Date.now();
  await onlyAddress(client, identity.address.ip, signal, fail);
  report.line(`files, clock and RNG ${seconds(written - started)} s, network, hostname and sshd ${seconds(scripted - written)} s, address checked ${seconds(Date.now() - scripted)} s`);
  return { clock };
}

/**
 * /root as a cold VM's work disk has it. Without `[[file_sync]]` that is the
 * template's /root (the same skeleton) with this user's authorized_keys: one
 * file. With it, the tree is staged as for a cold work disk and untarred over
 * /root (modes and owners as staged).
 */
async function writeRoot(client: AgentClient, identity: WarmIdentity, must: (what: string, result: Promise<{ code: number | null; stderr: Buffer }>) => Promise<void>): Promise<void> {
  const staging = join(identity.dir.root, '.identity-staging');
  await cleanStaleTemps(staging);
  const scratch = tempSibling(staging);
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  try {
    await stageWorkDisk({ stagingDir: join(scratch, 'root'), authorizedKeys: identity.authorizedKeys, fileSync: identity.fileSync });
    if (identity.fileSync.length === 0) {
      await client.putFile('/root/.ssh/authorized_keys', await readFile(join(scratch, 'root', '.ssh', 'authorized_keys')), { mode: 0o600, owner: 'root' });
      return;
    }
    const tar = await run('tar', ['-C', join(scratch, 'root'), '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', '.'], { binary: true });
    await must('writing /root', client.run({ argv: ['tar', '-xf', '-', '-C', '/root'] }, tar.stdoutBuffer ?? Buffer.alloc(0)));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Waits until eth0 answers for `ip` and nothing else (`/proc/net/fib_trie`,
 * read by the agent in-process). A guest still answering for the template's
 * address would make ARP between two restored VMs fail (each sees the
 * other's requests come from its own address).
 */
async function onlyAddress(client: AgentClient, ip: string, signal: AbortSignal, fail: (what: string) => Error): Promise<void> {
  const deadline = Date.now() + ADDRESS_SETTLE_MS;
  let seen: string[] = [];
  for (;;) {
    seen = localIpv4Addresses((await client.readFile('/proc/net/fib_trie')).content.toString());
    if (seen.length === 1 && seen[0] === ip) return;
    if (Date.now() > deadline) break;
    if (signal.aborted) throw new CancelledError('giving the restored guest its identity: cancelled');
    await sleep(ADDRESS_POLL_MS);
  }
  throw fail(`eth0 of the restored guest answers for ${seen.join(', ') || 'no address'}, not ${ip} alone`);
}
