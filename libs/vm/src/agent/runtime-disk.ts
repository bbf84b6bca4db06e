import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InternalError } from '@banger/errors';
import { cleanStaleTemps, mkfsExt4, run, tempSibling } from '@banger/host';

/** The label the guest unit mounts the runtime disk by (`mount LABEL=banger-runtime`). */
export const RUNTIME_DISK_LABEL = 'banger-runtime';
/** Where the guest unit mounts it (read-only). */
export const RUNTIME_MOUNT_POINT = '/run/banger/runtime';
/** The launcher on the disk the guest unit runs: loader + node + agent, all from the disk. */
export const RUNTIME_AGENT_LAUNCHER = `${RUNTIME_MOUNT_POINT}/bin/banger-vsock-agent`;
/** The RNG reseeder on the disk (banger-reseed): the host runs it through the agent after a restore or resume. */
export const GUEST_RESEED_HELPER = `${RUNTIME_MOUNT_POINT}/bin/banger-reseed`;
/**
 * Bumped when the disk's layout (paths, launcher) changes: part of the cache
 * key, so a new layout never reuses a disk built with the old one.
 */
export const RUNTIME_LAYOUT_REVISION = '3';

/** What goes on the runtime disk, from the host. */
export interface RuntimeSources {
  /** The node binary (the daemon's own `process.execPath`). */
  nodeBinary: string;
  /** The agent bundle (`banger-vsock-agent.js`, built by esbuild). */
  agentBundle: string;
  /** The static PTY helper (`banger-pty`, built by gcc beside the bundle): the agent runs `--tty` commands through it. */
  ptyHelper: string;
  /** The static vsock relay (`banger-vsock-relay`, built like banger-pty): the agent serves Firecracker's vsock through it. */
  vsockRelay: string;
  /** The static RNG reseeder (`banger-reseed`, built like banger-pty): run after a restore so no two guests share a CRNG state. */
  reseedHelper: string;
}

/** The shared libraries a dynamically linked binary needs and its loader, as `ldd` lists them. */
export interface LddResult {
  libraries: string[];
  loader: string | undefined;
}

/**
 * Parses `ldd` output: `name => /path (0x…)` lines are libraries, a bare
 * absolute path is the loader; the vDSO (no file) is skipped. A `not found`
 * library is an error: a disk without it would fail in every guest.
 */
export function parseLdd(output: string, binary: string): LddResult {
  const libraries: string[] = [];
  let loader: string | undefined;
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('linux-vdso') || line.startsWith('linux-gate')) continue;
    if (/=>\s*not found/.test(line)) {
      throw new InternalError('AGENT_RUNTIME_FAILED', `${binary}: ldd reports ${line.split(/\s/)[0]} not found`, { hint: 'install the library, or point banger at a node whose libraries are installed' });
    }
    const arrow = /=>\s*(\/\S+)/.exec(line);
    if (arrow) {
      libraries.push(arrow[1]!);
      continue;
    }
    const bare = /^(\/\S+)/.exec(line);
    if (bare) loader = bare[1]!;
  }
  return { libraries, loader };
}

/** The launcher script: the shipped loader runs the shipped node with the shipped libraries, so the guest's libc never matters. */
export function launcherScript(): string {
  return [
    '#!/bin/sh',
    '# banger guest agent: runs through the loader and libraries of this disk (the guest may have another libc).',
    'root="${0%/bin/*}"',
    'exec "$root/lib/ld-linux.so" --library-path "$root/lib" "$root/bin/node" "$root/agent/banger-vsock-agent.mjs" "$@"',
    '',
  ].join('\n');
}

/**
 * The session keeper's launcher: the same bundle under another name, so the
 * keepers of long-lived sessions (docs/agent.md, "Sessions") never match what
 * matches the agent (`pkill -f banger-vsock-agent` leaves them alone).
 */
export function keeperLauncherScript(): string {
  return [
    '#!/bin/sh',
    '# banger session keeper: supervises one long-lived session (the agent starts it detached).',
    'root="${0%/bin/*}"',
    'exec "$root/lib/ld-linux.so" --library-path "$root/lib" "$root/bin/node" "$root/agent/banger-session-keeper.mjs" session-keeper "$@"',
    '',
  ].join('\n');
}

/** The host files of a runtime disk, each under the name it gets on the disk. */
export interface RuntimeFile {
  source: string;
  /** Path inside the disk's tree. */
  target: string;
}

/** Resolves what the disk holds: node, its libraries (by `ldd`), the loader, the agent bundle, the PTY helper. */
export async function runtimeFiles(sources: RuntimeSources, signal?: AbortSignal): Promise<RuntimeFile[]> {
  for (const [what, path] of [['node', sources.nodeBinary], ['agent bundle', sources.agentBundle], ['PTY helper', sources.ptyHelper], ['vsock relay', sources.vsockRelay], ['RNG reseeder', sources.reseedHelper]] as const) {
    if (!existsSync(path)) throw new InternalError('AGENT_RUNTIME_FAILED', `the guest agent's ${what} ${path} does not exist`, { hint: 'build it (nx build @banger/vsock-agent) or reinstall banger (make install)' });
  }
  const { libraries, loader } = await nodeLibraries(sources.nodeBinary, signal);
  return [
    { source: sources.nodeBinary, target: 'bin/node' },
    { source: sources.agentBundle, target: 'agent/banger-vsock-agent.mjs' },
    { source: sources.agentBundle, target: 'agent/banger-session-keeper.mjs' },
    // Static: runs as is in any guest; the agent finds it at ../bin/banger-pty from its bundle.
    { source: sources.ptyHelper, target: 'bin/banger-pty' },
    // Static too; the agent finds it at ../bin/banger-vsock-relay and runs it under Firecracker.
    { source: sources.vsockRelay, target: 'bin/banger-vsock-relay' },
    // Static; the host runs it (GUEST_RESEED_HELPER) after a warm restore or a resume.
    { source: sources.reseedHelper, target: 'bin/banger-reseed' },
    ...libraries.map((lib) => ({ source: lib, target: `lib/${basename(lib)}` })),
    { source: loader, target: 'lib/ld-linux.so' },
  ];
}

/**
 * node's shared libraries and loader, by `ldd`; remembered per node binary
 * (device, inode, size, mtime) while every library it named still exists: the
 * daemon plans a VM's graph (and so asks) at every create and start, and each
 * ldd run sits before the plan (issue 19).
 */
const lddMemo = new Map<string, { libraries: string[]; loader: string }>();
async function nodeLibraries(nodeBinary: string, signal: AbortSignal | undefined): Promise<{ libraries: string[]; loader: string }> {
  const info = statSync(nodeBinary);
  const key = `${nodeBinary}\0${info.dev}\0${info.ino}\0${info.size}\0${info.mtimeMs}`;
  const known = lddMemo.get(key);
  if (known && [...known.libraries, known.loader].every((path) => existsSync(path))) return known;
  const ldd = await run('ldd', [nodeBinary], { ...(signal ? { signal } : {}), allowFailure: true });
  if (ldd.exitCode !== 0) {
    // A static node: nothing to ship beside it, but the launcher needs a loader; not supported yet.
    throw new InternalError('AGENT_RUNTIME_FAILED', `ldd ${nodeBinary} failed: ${(ldd.stderr || ldd.stdout).trim()}`, { hint: 'banger ships a dynamically linked node with its libraries' });
  }
  const { libraries, loader } = parseLdd(ldd.stdout, nodeBinary);
  if (!loader) throw new InternalError('AGENT_RUNTIME_FAILED', `ldd ${nodeBinary}: no loader listed`);
  const found = { libraries, loader };
  lddMemo.set(key, found);
  return found;
}

/** sha256 of a file; memoised by path, size and mtime so planning does not re-read 100 MiB of node each time. */
const digests = new Map<string, string>();
async function fileDigest(path: string): Promise<string> {
  const info = statSync(path);
  const memo = `${path}\0${info.size}\0${info.mtimeMs}\0${info.ino}`;
  const known = digests.get(memo);
  if (known) return known;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  digests.set(memo, digest);
  return digest;
}

/** The cache key of a runtime disk: the layout revision and the content of every file on it, by target name. */
export async function runtimeKey(files: readonly RuntimeFile[]): Promise<string> {
  const hash = createHash('sha256').update(`layout ${RUNTIME_LAYOUT_REVISION}\n`);
  for (const file of [...files].sort((a, b) => a.target.localeCompare(b.target))) {
    hash.update(`${file.target} ${await fileDigest(file.source)}\n`);
  }
  return hash.digest('hex').slice(0, 32);
}

/** Where the disk of a key lives: `<dir>/<key>.ext4`. */
export const runtimeDiskPath = (dir: string, key: string): string => join(dir, `${key}.ext4`);

/**
 * Builds the runtime disk for `files` under `dir` unless the disk of its key
 * exists: the tree in a temp dir, `mkfs.ext4 -d` into a temp sibling (no
 * mount), renamed into place last, so a killed build leaves no disk under the
 * final name (its leftovers are cleaned by the next build). Read-only in
 * every guest, so one disk serves every VM of this banger version.
 */
export async function ensureRuntimeDisk(dir: string, files: readonly RuntimeFile[], options: { signal?: AbortSignal } = {}): Promise<{ path: string; key: string; built: boolean }> {
  const key = await runtimeKey(files);
  const path = runtimeDiskPath(dir, key);
  if (existsSync(path)) return { path, key, built: false };
  await mkdir(dir, { recursive: true });
  await cleanStaleTemps(path);
  const tree = tempSibling(join(dir, `${key}.tree`));
  const image = tempSibling(path);
  try {
    let bytes = 0;
    for (const file of files) {
      const target = join(tree, file.target);
      await mkdir(dirname(target), { recursive: true });
      await copyFile(file.source, target);
      await chmod(target, file.target.startsWith('lib/') || file.target.startsWith('bin/') ? 0o755 : 0o644);
      bytes += (await stat(target)).size;
    }
    await writeFile(join(tree, 'bin', 'banger-vsock-agent'), launcherScript(), { mode: 0o755 });
    await writeFile(join(tree, 'bin', 'banger-session-keeper'), keeperLauncherScript(), { mode: 0o755 });
    await writeFile(join(tree, 'KEY'), `${key}\n`);
    // Room for ext4's metadata (no journal: the disk is never written in a guest).
    const sizeMib = Math.ceil((bytes * 1.08) / 2 ** 20) + 16;
    await mkfsExt4({ tree, image, label: RUNTIME_DISK_LABEL, size: `${sizeMib}M`, reservedPercent: 0, features: ['^has_journal'], extended: ['root_owner=0:0'], ...(options.signal ? { signal: options.signal } : {}) });
    await chmod(image, 0o644);
    await rename(image, path);
  } finally {
    await rm(tree, { recursive: true, force: true });
    await rm(image, { force: true });
  }
  return { path, key, built: true };
}
