import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { InternalError } from '@banger/errors';
import { debugfsQuote, parseDebugfsStat, runDebugfsScript } from '@banger/disks';
import { WORK_DISK_UNIT_NAME } from '@banger/images';
import type { HostKey } from '@banger/ssh';
import { AGENT_UNIT_PATH, AGENT_UNIT_WANTS, agentUnitText } from './agent/guest-unit.js';
import { debugfsWriteCommands } from './image-files.js';
import { relaxedFstab } from './work-disk-timeout.js';

/** What makes a fresh rootfs copy this VM's. */
export interface RootfsPersona {
  hostname: string;
  hostKey: HostKey;
  /** Also write the guest agent's unit and its enablement link (when the image has systemd). */
  agentUnit: boolean;
}

/** What was written. */
export interface PersonaliseResult {
  machineId: string;
  /** How the image mounts the work disk: its own unit, an fstab line (now patient), or not at all. */
  workDisk: 'unit' | 'fstab' | 'none';
  /** Whether the agent unit is now in the rootfs (false: not asked, or an image without /etc/systemd/system). */
  agentUnit: boolean;
}

interface FileSpec { path: string; content: string; mode: number; what: 'host key' | 'file' }

const SSH_HOST_KEY = '/etc/ssh/ssh_host_ed25519_key';
const SYSTEMD_DIR = '/etc/systemd/system';

/** What personalising needs to know of an image's files (the same for every copy of one file: see probeRootfsOnce). */
export interface RootfsProbe {
  /** /etc/fstab's text, when the image has one. */
  fstab: string | undefined;
  /** Whether the image has banger-work-disk.service (it then mounts the work disk without fstab). */
  hasWorkUnit: boolean;
  /** Whether /etc/systemd/system is a directory (the agent unit can go in). */
  hasSystemd: boolean;
}

/** Reads what personalising needs from an unmounted image, in one debugfs run (its dumps land in a temp dir in `scratchDir`, default the image's). */
export async function probeRootfs(image: string, options: { signal?: AbortSignal; scratchDir?: string } = {}): Promise<RootfsProbe> {
  const scratch = await mkdtemp(join(options.scratchDir ?? dirname(image), '.probe-'));
  try {
    const local = (name: string) => join(scratch, name);
    const probe = [
      `dump "/etc/fstab" ${debugfsQuote(local('fstab'))}`,
      `dump ${debugfsQuote(`${SYSTEMD_DIR}/${WORK_DISK_UNIT_NAME}`)} ${debugfsQuote(local('work-unit'))}`,
      `stat ${debugfsQuote(SYSTEMD_DIR)}`,
    ];
    const read = await runDebugfsScript(image, probe, options.signal ? { signal: options.signal } : {});
    return {
      fstab: await readFile(local('fstab'), 'utf8').catch(() => undefined),
      hasWorkUnit: await readFile(local('work-unit')).then(() => true, () => false),
      hasSystemd: parseDebugfsStat(read.outputs.get(probe[2]!) ?? '')?.type === 'directory',
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

const probes = new Map<string, RootfsProbe>();

/**
 * probeRootfs of an image file that is never written once made (an image's
 * rootfs, a grown base), remembered per file (path, inode, mtime, size): every
 * VM's copy of it then skips a debugfs run on the way to QEMU's start.
 */
export async function probeRootfsOnce(image: string, options: { signal?: AbortSignal; scratchDir?: string } = {}): Promise<RootfsProbe> {
  const info = await stat(image);
  const key = `${resolve(image)}:${info.ino}:${Math.round(info.mtimeMs)}:${info.size}`;
  const known = probes.get(key);
  if (known) return known;
  const probe = await probeRootfs(image, options);
  probes.set(key, probe);
  return probe;
}

/**
 * Makes a fresh, unmounted rootfs copy a VM's own: its sshd host key,
 * /etc/hostname and a fresh /etc/machine-id, the work disk's fstab line made
 * patient (older images), and the guest agent's unit — written and read back
 * in one debugfs run (plus one to probe the copy, unless `probe` says what
 * its source holds). Each debugfs start reads the image's metadata, and these
 * runs sit between the clone and QEMU's start on every create (issue 19).
 * Everything written is read back in the same run and compared, because
 * debugfs exits 0 when a command fails.
 */
export async function personaliseRootfs(rootfs: string, persona: RootfsPersona, options: { signal?: AbortSignal; probe?: RootfsProbe } = {}): Promise<PersonaliseResult> {
  const signal = options.signal ? { signal: options.signal } : {};
  const { fstab, hasWorkUnit, hasSystemd } = options.probe ?? (await probeRootfs(rootfs, signal));
  // Beside the image (the VM's own directory), not in /tmp: a daemon killed here would leave a private key in a shared place.
  const scratch = await mkdtemp(join(dirname(rootfs), '.persona-'));
  try {
    const local = (name: string) => join(scratch, name);
    const machineId = randomBytes(16).toString('hex');
    const files: FileSpec[] = [
      { path: SSH_HOST_KEY, content: withNewline(persona.hostKey.privateKey), mode: 0o600, what: 'host key' },
      { path: `${SSH_HOST_KEY}.pub`, content: withNewline(persona.hostKey.publicKey), mode: 0o644, what: 'host key' },
      { path: '/etc/hostname', content: `${persona.hostname}\n`, mode: 0o644, what: 'file' },
      { path: '/etc/machine-id', content: `${machineId}\n`, mode: 0o444, what: 'file' },
    ];
    const patient = fstab === undefined ? undefined : relaxedFstab(fstab);
    if (patient !== undefined) files.push({ path: '/etc/fstab', content: patient, mode: 0o644, what: 'file' });
    const agentUnit = persona.agentUnit && hasSystemd;
    if (agentUnit) files.push({ path: AGENT_UNIT_PATH, content: agentUnitText(), mode: 0o644, what: 'file' });

    const script: string[] = ['mkdir /etc', 'mkdir /etc/ssh'];
    for (const [index, file] of files.entries()) {
      const source = local(`w${index}`);
      await writeFile(source, file.content, { mode: 0o600 });
      script.push(...debugfsWriteCommands(source, file.path, file.mode));
    }
    if (agentUnit) script.push(`mkdir ${debugfsQuote(posix.dirname(AGENT_UNIT_WANTS))}`, `rm ${debugfsQuote(AGENT_UNIT_WANTS)}`, `symlink ${debugfsQuote(AGENT_UNIT_WANTS)} ${debugfsQuote(AGENT_UNIT_PATH)}`);
    // The read-back, in the same run: it reads the file system the writes left (debugfs's failures are per command).
    for (const [index, file] of files.entries()) script.push(`dump ${debugfsQuote(file.path)} ${debugfsQuote(local(`r${index}`))}`, `stat ${debugfsQuote(file.path)}`);
    if (agentUnit) script.push(`stat ${debugfsQuote(AGENT_UNIT_WANTS)}`);
    const done = await runDebugfsScript(rootfs, script, { write: true, ...signal });
    for (const [index, file] of files.entries()) {
      const inode = parseDebugfsStat(done.outputs.get(`stat ${debugfsQuote(file.path)}`) ?? '');
      const content = await readFile(local(`r${index}`), 'utf8').catch(() => undefined);
      if (!inode || inode.mode !== file.mode || inode.uid !== 0 || inode.gid !== 0 || content !== file.content) {
        const why = lastErrorLine(done.stderr) ?? (inode ? 'the file read back differs' : 'the file is missing afterwards');
        const message = `${file.what === 'host key' ? 'install ssh host key' : 'write a file'} into ${rootfs}: ${file.path}: ${why}`;
        throw new InternalError(file.what === 'host key' ? 'HOST_KEY_INSTALL_FAILED' : 'VM_IMAGE_WRITE_FAILED', message, {
          hint: 'check that the image is an ext4 filesystem, is not mounted, and has free space (e2fsck -fn <image>)',
        });
      }
    }
    if (agentUnit) {
      const link = parseDebugfsStat(done.outputs.get(`stat ${debugfsQuote(AGENT_UNIT_WANTS)}`) ?? '');
      if (link?.type !== 'symlink' || link.linkTarget !== AGENT_UNIT_PATH) {
        throw new InternalError('VM_IMAGE_WRITE_FAILED', `write the agent unit into ${rootfs}: ${AGENT_UNIT_WANTS} is not a link to ${AGENT_UNIT_PATH}`, {
          hint: 'check that the disk is ext4 and not mounted (e2fsck -fn <file>)',
        });
      }
    }
    return { machineId, workDisk: hasWorkUnit ? 'unit' : patient !== undefined ? 'fstab' : 'none', agentUnit };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

const withNewline = (text: string): string => (text.endsWith('\n') ? text : `${text}\n`);

/** The last line of debugfs's stderr that says what failed (not its banner, not the expected "not found" of `rm`/`mkdir`). */
function lastErrorLine(log: string): string | undefined {
  return log
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('debugfs ') && !/already exists|File not found by ext2_lookup/.test(l))
    .at(-1);
}
