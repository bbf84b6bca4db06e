import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentClient } from '@banger/agent';
import { CancelledError, InternalError } from '@banger/errors';
import { cleanStaleTemps, formatIpv4, run, runPrivileged, tempSibling, testPausePoint, writeFileAtomic } from '@banger/host';
import { createDriver, hasAgentChannel, isSuspendCapable, processAlive, savedStateFiles, type HypervisorChoice, type VmHandle, type VmSpec as DriverSpec } from '@banger/hypervisor';
import { guestNetworkFor, ipToInt, parseSubnet, removeTap } from '@banger/network';
import { installHostKey, makeWorkDisk, stageWorkDisk } from '@banger/disks';
import { ensureUserKey, generateHostKey } from '@banger/ssh';
import type { ImageRef } from '@banger/images';
import { vmBootArgs, vmDisks } from '../boot-args.js';
import { cloneRootfs } from '../clone-rootfs.js';
import { writeMachineIdentity } from '../machine-identity.js';
import { relaxWorkDiskTimeout } from '../work-disk-timeout.js';
import { agentUnitText, installAgentUnit } from '../agent/guest-unit.js';
import type { BootedWith } from '../suspended-state.js';
import { removeStaleTemplateBuild, templateTapName } from './stale-template-builds.js';

/**
 * Bump when what a template guest looks like at its snapshot changes in a way
 * the other inputs do not show (the identity script's assumptions, the
 * template's boot arguments): every template is then rebuilt.
 */
export const WARM_TEMPLATE_REVISION = 1;

/** Everything a warm template depends on: a change in any of them is another template. */
export interface WarmInputs {
  image: string;
  imageSha256: string;
  kernel: string;
  /** size:mtime of the kernel's vmlinux, initrd and modules disk (a re-pulled kernel is another). */
  kernelFiles: string;
  /** The agent runtime disk (its file name is its content key: banger, agent and node). */
  runtimeDisk: string;
  agentUnit: string;
  /** The hypervisor's binary and version: a saved state loads only into the hypervisor (and version) that wrote it. */
  hypervisor: string;
  hypervisorVersion: string;
  accel: string;
  vcpu: string;
  memoryMib: string;
  diskBytes: string;
  revision: string;
}

/** The files of one template, `<state>/warm/<fingerprint>/`. Nothing else builds these paths. */
export class WarmTemplateDir {
  constructor(readonly root: string) {}
  get rootfs(): string { return join(this.root, 'rootfs.ext4'); }
  get workDisk(): string { return join(this.root, 'work.ext4'); }
  get state(): string { return join(this.root, 'template.state'); }
  /** Written last: a template without it is incomplete (a killed build) and is never used. */
  get meta(): string { return join(this.root, 'template.json'); }
  get consoleLog(): string { return join(this.root, 'console.log'); }
  get agentSocket(): string { return join(this.root, 'agent.sock'); }
}

/** `template.json`: what the template was booted with and from which inputs. */
export interface WarmTemplateMeta {
  format: 1;
  fingerprint: string;
  inputs: WarmInputs;
  bootedWith: BootedWith;
  createdAt: string;
  /** Bytes of memory state, for `image show`. */
  stateBytes: number;
  /**
   * The saved state's files besides `template.state` (Firecracker: the guest
   * memory, `template.state.mem`), by name. Absent in templates from before
   * Firecracker could build them: QEMU writes the one file.
   */
  stateCompanions?: string[];
}

/** `<state>/warm`, beside `<state>/vms`: never inside an image's own directory. */
export const warmRoot = (vmsDir: string): string => join(dirname(vmsDir), 'warm');

/** 16 hex digits of sha256 over the inputs: short, so the QMP socket path stays under 108 bytes. */
export function warmFingerprint(inputs: WarmInputs): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(inputs).sort()) hash.update(`${key}=${inputs[key as keyof WarmInputs]}\n`);
  return hash.digest('hex').slice(0, 16);
}

const fileStamp = (path: string): string => {
  try {
    const s = statSync(path);
    return `${s.size}:${Math.floor(s.mtimeMs)}`;
  } catch {
    return 'missing';
  }
};

export function warmInputs(options: {
  image: ImageRef;
  kernel: { name: string; paths: { vmlinux: string; initrd: string; modules: string } };
  runtimeDisk: string;
  hypervisor: Pick<HypervisorChoice, 'binary' | 'accel' | 'version'>;
  vcpu: number;
  memoryMib: number;
  diskBytes: number;
}): WarmInputs {
  const { kernel } = options;
  return {
    image: options.image.name,
    imageSha256: options.image.sha256,
    kernel: kernel.name,
    kernelFiles: [kernel.paths.vmlinux, kernel.paths.initrd, kernel.paths.modules].map(fileStamp).join(','),
    runtimeDisk: options.runtimeDisk,
    agentUnit: createHash('sha256').update(agentUnitText()).digest('hex').slice(0, 16),
    hypervisor: options.hypervisor.binary,
    hypervisorVersion: options.hypervisor.version ?? 'unknown',
    accel: options.hypervisor.accel,
    vcpu: String(options.vcpu),
    memoryMib: String(options.memoryMib),
    diskBytes: String(options.diskBytes),
    revision: String(WARM_TEMPLATE_REVISION),
  };
}

/** The template's description, when it is complete (meta written last, state and disks present). */
export function readWarmTemplate(dir: WarmTemplateDir): WarmTemplateMeta | undefined {
  if (!existsSync(dir.state) || !existsSync(dir.rootfs) || !existsSync(dir.workDisk)) return undefined;
  try {
    const meta = JSON.parse(readFileSync(dir.meta, 'utf8')) as WarmTemplateMeta;
    return meta.format === 1 && missingCompanion(dir, meta) === undefined ? meta : undefined;
  } catch {
    return undefined;
  }
}

/** The first file of the saved state, besides `template.state`, that is not there. */
function missingCompanion(dir: WarmTemplateDir, meta: Pick<WarmTemplateMeta, 'stateCompanions'>): string | undefined {
  return (meta.stateCompanions ?? []).find((name) => !existsSync(join(dir.root, basename(name))));
}

/**
 * Why a template directory that exists cannot be used, or undefined when it is
 * complete or absent. A build writes `<fingerprint>.tmp-…` and renames it when
 * complete, so the final directory without its files was damaged after the
 * fact (a file deleted, a disk filled), or written by a banger whose format
 * this one does not read.
 */
export function whyWarmTemplateDamaged(dir: WarmTemplateDir): string | undefined {
  if (!existsSync(dir.root)) return undefined;
  if (!existsSync(dir.state)) return 'its saved memory and device state is missing';
  if (!existsSync(dir.rootfs) || !existsSync(dir.workDisk)) return 'a disk of it is missing';
  let meta: { format?: unknown; stateCompanions?: unknown };
  try {
    meta = JSON.parse(readFileSync(dir.meta, 'utf8')) as { format?: unknown; stateCompanions?: unknown };
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'its template.json is missing' : 'its template.json is unreadable';
  }
  if (meta.format !== 1) return `it was written by another banger version (template format ${String(meta.format)}, this one reads 1)`;
  const companions = Array.isArray(meta.stateCompanions) ? meta.stateCompanions.filter((n): n is string => typeof n === 'string') : [];
  const missing = missingCompanion(dir, { stateCompanions: companions });
  if (missing) return `its saved state file ${missing} is missing`;
  return undefined;
}

/** Every complete template under `<state>/warm` with its disk use (allocated blocks, not logical size). */
export async function listWarmTemplates(vmsDir: string): Promise<Array<{ dir: string; meta: WarmTemplateMeta; bytes: number }>> {
  const root = warmRoot(vmsDir);
  if (!existsSync(root)) return [];
  const found: Array<{ dir: string; meta: WarmTemplateMeta; bytes: number }> = [];
  for (const name of readdirSync(root)) {
    if (name.startsWith('.') || name.includes('.tmp-')) continue;
    const dir = new WarmTemplateDir(join(root, name));
    const meta = readWarmTemplate(dir);
    if (!meta) continue;
    const du = await run('du', ['-s', '--block-size=1', dir.root], { allowFailure: true });
    found.push({ dir: dir.root, meta, bytes: Number(du.stdout.split(/\s/)[0]) || 0 });
  }
  return found;
}

/**
 * Removes a template (a bad one after a failed restore, or pruned). Safe while
 * VMs restored from it run: they have copies of its disks, and a Firecracker
 * VM that maps the template's memory file keeps the unlinked file until it exits.
 */
export async function removeWarmTemplate(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** How the template build reports and where it gets what a boot needs. */
export interface BuildTemplateOptions {
  root: string;
  fingerprint: string;
  inputs: WarmInputs;
  image: ImageRef;
  kernel: { vmlinux: string; initrd: string; modules: string };
  runtimeDisk: string;
  choice: HypervisorChoice;
  vcpu: number;
  memoryMib: number;
  diskBytes: number;
  bridgeSubnet: string;
  userKeyPath: string;
  hostVersion: string;
  signal: AbortSignal;
  line: (text: string) => void;
  /** How long the template guest may take to finish booting. */
  bootTimeoutMs: number;
}

/** How much longer than the guest's own bound (READY_SCRIPT) the host waits for its answer. */
const READY_ANSWER_GRACE_S = 30;

/**
 * Waits (at most $1 seconds) for the end of the guest's boot, syncs, prints
 * the system state and, while it is still starting, the jobs it waits for.
 */
const READY_SCRIPT = `timeout "$1" systemctl is-system-running --wait >/dev/null 2>&1; sync
state=$(systemctl is-system-running 2>/dev/null); echo "$state"
case "$state" in starting|initializing) systemctl list-jobs --no-legend --no-pager 2>/dev/null | awk '{print $2 " (" $3 " " $4 ")"}' | head -n 5;; esac`;

/**
 * Builds a template: a guest of the image booted to the end of its boot
 * (`systemctl is-system-running --wait`: sshd and the agent are up), then
 * suspended to `template.state` with its disks kept as they were at that
 * moment. Built in a temp directory renamed into place last. The template's
 * tap is on no bridge: nothing ever sees its address or MAC.
 */
export async function buildWarmTemplate(options: BuildTemplateOptions): Promise<WarmTemplateMeta> {
  const { signal, line } = options;
  const final = options.root;
  // A build killed with its daemon left `<fingerprint>.tmp-<pid>-<hex>` and maybe its guest running:
  // both removed here (that pid is gone; the caller holds the build key).
  await mkdir(dirname(final), { recursive: true, mode: 0o700 });
  await cleanStaleTemps(final, removeStaleTemplateBuild);
  const temp = tempSibling(final);
  const dir = new WarmTemplateDir(temp);
  await mkdir(temp, { recursive: true, mode: 0o700 });
  const id = `tpl_${options.fingerprint}`;
  const tap = templateTapName(options.fingerprint);
  let handle: VmHandle | undefined;
  const driver = createDriver(options.choice);
  try {
    line(`building warm template ${options.fingerprint} of ${options.image.name}`);
    await cloneRootfs(options.image.rootfs, dir.rootfs, options.diskBytes, signal);
    await installHostKey(dir.rootfs, generateHostKey('banger-template'), { signal });
    await writeMachineIdentity(dir.rootfs, 'banger-template', { signal });
    await relaxWorkDiskTimeout(dir.rootfs, { signal });
    await installAgentUnit(dir.rootfs, { signal });
    const key = await ensureUserKey(options.userKeyPath);
    const staging = join(temp, 'work-staging');
    let skeletonDir: string | undefined;
    if (options.image.rootSkel) {
      skeletonDir = join(temp, 'skel');
      await mkdir(skeletonDir, { recursive: true });
      await run('tar', ['-xf', options.image.rootSkel, '-C', skeletonDir, '--numeric-owner'], { signal });
    }
    await stageWorkDisk({ stagingDir: staging, authorizedKeys: key.publicKey, ...(skeletonDir ? { skeletonDir } : {}) });
    await makeWorkDisk(staging, dir.workDisk, options.diskBytes, { signal });
    await rm(staging, { recursive: true, force: true });
    if (skeletonDir) await rm(skeletonDir, { recursive: true, force: true });

    // A tap on no bridge: the device set must match the VMs restored from it, the traffic goes nowhere.
    await runPrivileged('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', String(process.getuid?.() ?? 0)], { allowFailure: true });
    await runPrivileged('ip', ['link', 'set', 'dev', tap, 'up']);
    const subnet = parseSubnet(options.bridgeSubnet);
    // The last host address of the subnet: the template is never on the bridge, so it collides with nobody.
    const network = guestNetworkFor({ ip: formatIpv4(ipToInt(subnet.broadcast) - 1), hostname: 'banger-template' }, options.bridgeSubnet);
    const spec: DriverSpec = {
      id,
      name: `template-${options.fingerprint}`,
      vcpu: options.vcpu,
      memoryMib: options.memoryMib,
      kernel: { vmlinux: options.kernel.vmlinux, initrd: options.kernel.initrd },
      bootArgs: vmBootArgs({ hostname: 'banger-template', network }),
      disks: vmDisks({ rootfs: dir.rootfs, workDisk: dir.workDisk, modules: options.kernel.modules, runtime: options.runtimeDisk }),
      net: { tap, mac: network.mac },
      consoleLogPath: dir.consoleLog,
      agentSocketPath: dir.agentSocket,
      vmDir: temp,
    };
    if (!isSuspendCapable(driver) || !hasAgentChannel(driver)) throw new InternalError('WARM_UNSUPPORTED', `${driver.kind} cannot save a VM to a file`);
    const started = Date.now();
    handle = await driver.start(spec, { signal });
    const client = await connectAgent(driver, handle, spec, options, () => handle !== undefined && processAlive(handle.pid, handle.startTime));
    try {
      // The end of the boot: sshd, networkd and the resolver one-shot are done; the snapshot is "ready".
      // Bounded by what is left of the boot timeout: a job that never ends must not hang the run (it is named).
      const leftS = Math.max(5, Math.round((options.bootTimeoutMs - (Date.now() - started)) / 1000));
      // The host's own backstop, should the answer never come (the client is closed below, the guest stopped by the catch).
      let backstop: NodeJS.Timeout | undefined;
      const ready = await Promise.race([
        client.run({ argv: ['sh', '-c', READY_SCRIPT, 'banger-ready', String(leftS)] }),
        new Promise<never>((_, reject) => {
          backstop = setTimeout(() => reject(new InternalError('WARM_TEMPLATE_TIMEOUT', `the template guest's agent did not answer whether its boot finished within ${leftS + READY_ANSWER_GRACE_S} s`)), (leftS + READY_ANSWER_GRACE_S) * 1000);
        }),
      ]).finally(() => clearTimeout(backstop));
      const [state = '', ...waiting] = ready.stdout.toString().trim().split('\n');
      if (state === 'starting' || state === 'initializing') {
        throw new InternalError('WARM_TEMPLATE_TIMEOUT', `the template guest did not finish booting within ${Math.round(options.bootTimeoutMs / 1000)} s (still ${state}${waiting.length > 0 ? `; waiting: ${waiting.join(', ')}` : ''})`);
      }
      line(`template guest ready (${state}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      client.close();
    }
    // The fault suite's point with the template guest up and not saved yet (tests only: see testPausePoint).
    await testPausePoint('vm.warm-template:guest-ready', signal);
    await driver.suspend(handle, dir.state);
    handle = undefined;
    const stateFiles = savedStateFiles(dir.state).filter((path) => existsSync(path));
    const stateBytes = stateFiles.reduce((sum, path) => sum + statSync(path).size, 0);
    const meta: WarmTemplateMeta = {
      format: 1,
      fingerprint: options.fingerprint,
      inputs: options.inputs,
      bootedWith: { binary: options.choice.binary, spec },
      createdAt: new Date().toISOString(),
      stateBytes,
      stateCompanions: stateFiles.filter((path) => path !== dir.state).map((path) => basename(path)),
    };
    await writeFileAtomic(dir.meta, `${JSON.stringify(meta, null, 2)}\n`, 0o600);
    // The hypervisor's sockets and pid files (the state, memory and logs stay).
    for (const leftover of ['qmp.sock', 'firecracker.sock', 'agent.sock', 'hypervisor.pid', 'qemu.pid']) await rm(join(temp, leftover), { force: true });
    await rm(final, { recursive: true, force: true });
    await rename(temp, final);
    line(`template saved (${(stateBytes / 2 ** 20).toFixed(0)} MiB of state) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return meta;
  } catch (error) {
    if (handle) await driver.stop(handle, { graceMs: 0 }).catch(() => undefined);
    await rm(temp, { recursive: true, force: true });
    throw error;
  } finally {
    await removeTap(tap).catch(() => undefined);
  }
}

async function connectAgent(
  driver: ReturnType<typeof createDriver>,
  handle: VmHandle,
  spec: DriverSpec,
  options: Pick<BuildTemplateOptions, 'bootTimeoutMs' | 'signal' | 'hostVersion'>,
  alive: () => boolean,
): Promise<AgentClient> {
  if (!hasAgentChannel(driver)) throw new InternalError('WARM_UNSUPPORTED', `${driver.kind} has no agent channel`);
  const deadline = Date.now() + options.bootTimeoutMs;
  let last: Error | undefined;
  while (Date.now() < deadline) {
    if (options.signal.aborted) throw new CancelledError('building the warm template: cancelled');
    if (!alive()) throw new InternalError('WARM_TEMPLATE_DIED', `the template guest exited while booting (see ${spec.consoleLogPath})`);
    try {
      const socket = await driver.connectAgent(handle, spec, { signal: options.signal });
      return await AgentClient.connect(socket, { hostVersion: options.hostVersion, timeoutMs: 5_000 });
    } catch (error) {
      last = error as Error;
    }
    await sleep(500);
  }
  throw new InternalError('WARM_TEMPLATE_TIMEOUT', `the template guest's agent did not answer within ${Math.round(options.bootTimeoutMs / 1000)} s${last ? ` (last: ${last.message})` : ''}`);
}
