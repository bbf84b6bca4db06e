import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { run } from '@banger/host';
import { writeCpioGz, type CpioEntry } from '../write-cpio.js';
import { DEFAULT_BOOT_MODULES, readModuleIndex, resolveModules, type ModuleResolution } from '../modules-dep.js';
import { INIT_SCRIPT } from './init-script.js';
import { decompressWithTool } from '../tool-decompress.js';

export interface BuildInitrdOptions {
  /** The unpacked kernel package: holds lib/modules/<kernelVersion> with depmod output. */
  kernelRoot: string;
  kernelVersion: string;
  /** A statically linked busybox binary (busybox-static's /bin/busybox). */
  busybox: string;
  /** Modules to load at boot (names or aliases); DEFAULT_BOOT_MODULES by default. */
  modules?: readonly string[];
  signal?: AbortSignal;
}

export interface BuiltInitrd {
  /** The gzip-compressed newc cpio. */
  image: Buffer;
  resolution: ModuleResolution;
}

/**
 * Builds the initrd: busybox (with a symlink per applet), the boot modules in
 * load order (decompressed when the kernel ships .ko.xz/.ko.zst/.ko.gz, since
 * busybox insmod reads only plain ELF), /lib/modules/boot.order, /dev/console,
 * /dev/null and /init (INIT_SCRIPT). Deterministic: same inputs, same bytes.
 */
export async function buildInitrd(options: BuildInitrdOptions): Promise<BuiltInitrd> {
  const { kernelRoot, kernelVersion } = options;
  const index = await readModuleIndex(kernelRoot, kernelVersion);
  const resolution = resolveModules(index, options.modules ?? DEFAULT_BOOT_MODULES);

  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  const addDir = (path: string): void => {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      entries.push({ type: 'dir', path: dir, mode: dir === 'tmp' ? 0o1777 : 0o755 });
    }
  };
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'run', 'tmp', 'newroot', 'etc']) addDir(dir);
  entries.push({ type: 'char', path: 'dev/console', major: 5, minor: 1, mode: 0o600 });
  entries.push({ type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 });

  entries.push({ type: 'file', path: 'bin/busybox', data: await readFile(options.busybox), mode: 0o755 });
  const applets = (await run(options.busybox, ['--list-full'], { signal: options.signal })).stdout;
  for (const applet of applets.split('\n').map((line) => line.trim()).filter(Boolean)) {
    if (applet === 'bin/busybox' || applet === 'init' || applet === 'linuxrc') continue;
    addDir(applet.slice(0, applet.lastIndexOf('/')));
    entries.push({ type: 'symlink', path: applet, target: '/bin/busybox' });
  }

  const order: string[] = [];
  for (const module of resolution.load) {
    const source = join(kernelRoot, 'lib/modules', kernelVersion, module.path);
    const plainPath = module.path.replace(/\.(xz|zst|gz)$/, '');
    addDir(join('lib/modules', kernelVersion, plainPath.slice(0, plainPath.lastIndexOf('/'))));
    entries.push({ type: 'file', path: join('lib/modules', kernelVersion, plainPath), data: await readModule(source, options.signal), mode: 0o644 });
    order.push(plainPath);
  }
  entries.push({ type: 'file', path: 'lib/modules/boot.order', data: Buffer.from(order.map((p) => `${p}\n`).join('')) });
  entries.push({ type: 'file', path: 'init', data: Buffer.from(INIT_SCRIPT), mode: 0o755 });
  return { image: writeCpioGz(entries), resolution };
}

async function readModule(file: string, signal?: AbortSignal): Promise<Buffer> {
  if (file.endsWith('.ko.xz')) return decompressWithTool('xz', await readFile(file), signal);
  if (file.endsWith('.ko.zst')) return decompressWithTool('zstd', await readFile(file), signal);
  if (file.endsWith('.ko.gz')) return gunzipSync(await readFile(file));
  return readFile(file);
}
