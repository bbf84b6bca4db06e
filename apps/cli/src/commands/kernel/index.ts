import { resolve } from 'node:path';
import type { KernelCatalogEntryWire, KernelInfo } from '@banger/api';
import type { CommandGroup } from '../command-group.js';
import type { CliContext } from '../../context.js';
import { nameArgument } from '../../completion/resource-names.js';
import { keyValues, toJson } from '../../output/format.js';
import { formatBytes } from '../../progress/index.js';
import { streamedCall } from '../streamed-call.js';
import { formatTable, shortTime } from './format-table.js';

/** `banger kernel list|show|pull|import|rm|catalog`. */
export const kernelCommands: CommandGroup = (program, ctx) => {
  const kernel = program.command('kernel').description('guest kernels: pull from the catalog, import bundles, list, remove');
  kernel
    .command('list')
    .alias('ls')
    .description('list the registered kernels')
    .option('--catalog', 'list the catalog instead (same as banger kernel catalog)')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean; catalog?: boolean }) => (options.catalog ? catalog(ctx, options) : list(ctx, options)));
  kernel
    .command('show')
    .description('show one registered kernel')
    .addArgument(nameArgument('kernel', '<name>', 'the kernel'))
    .option('--json', 'print JSON')
    .action((name: string, options: { json?: boolean }) => show(ctx, name, options));
  kernel
    .command('pull')
    .description('download a catalog kernel (or build it from its Debian package) and register it')
    .argument('<name>', 'catalog name (see banger kernel catalog)')
    .option('--json', 'print progress events as NDJSON')
    .option('--explain', 'print what would run and why; change nothing')
    .action((name: string, options: { json?: boolean; explain?: boolean }) => pull(ctx, name, options));
  kernel
    .command('build')
    .description("build a kernel bundle from a Debian kernel package (the host's apt sources) and register it")
    .requiredOption('--from-deb <package>', 'a linux-image-* package, e.g. linux-image-cloud-amd64')
    .option('--name <name>', 'kernel name (default: the package name without linux-image-)')
    .option('--publish <oci://ref>', 'also push the bundle to a registry (oci://registry[:port]/repository[:tag]; the tag defaults to the kernel version)')
    .option('--json', 'print progress events as NDJSON')
    .option('--explain', 'print what would run and why; change nothing')
    .action((options: BuildOptions) => build(ctx, options));
  kernel
    .command('import')
    .description('copy a kernel bundle directory (verified) into banger and register it')
    .argument('<dir>', 'bundle directory (manifest.json, vmlinux, initrd.img, modules.ext4, config)')
    .option('--name <name>', "register under this name instead of the manifest's")
    .option('--json', 'print JSON')
    .action((dir: string, options: { name?: string; json?: boolean }) => importBundle(ctx, dir, options));
  kernel
    .command('publish')
    .description('push a registered kernel to an OCI registry as a banger bundle (pull it with a catalog entry naming the reference)')
    .addArgument(nameArgument('kernel', '<name>', 'the kernel'))
    .argument('<reference>', 'oci://registry[:port]/repository[:tag] (the tag defaults to the kernel version)')
    .option('--json', 'print progress events as NDJSON')
    .option('--explain', 'print what would run and why; change nothing')
    .action((name: string, reference: string, options: { json?: boolean; explain?: boolean }) => publish(ctx, name, reference, options));
  kernel
    .command('rm')
    .alias('remove')
    .description('remove a kernel (refused while a VM uses it)')
    .addArgument(nameArgument('kernel', '<name>', 'the kernel'))
    .option('--json', 'print JSON')
    .action((name: string, options: { json?: boolean }) => remove(ctx, name, options));
  kernel
    .command('catalog')
    .description('list the kernels banger can pull (embedded catalog + kernel_catalog_url)')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => catalog(ctx, options));
};

async function list(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const kernels = await client.call('kernel.list', {}, { signal: ctx.signal });
  if (options.json) return ctx.out(toJson(kernels));
  if (kernels.length === 0) return ctx.out('no kernels registered (hint: banger kernel pull debian-cloud)');
  ctx.out(
    formatTable(
      ['NAME', 'VERSION', 'SOURCE', 'SIZE', 'REGISTERED', 'USED BY'],
      kernels.map((k) => [k.name, k.version, `${k.source.package} ${k.source.packageVersion}`, formatBytes(k.sizeBytes), shortTime(k.registeredAt), k.usedBy.join(',')]),
    ),
  );
}

async function show(ctx: CliContext, name: string, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const kernel = await client.call('kernel.show', { name }, { signal: ctx.signal });
  ctx.out(options.json ? toJson(kernel) : describe(kernel));
}

/** The human `kernel show` text. */
export function describe(kernel: KernelInfo): string {
  return [
    `kernel ${kernel.name}`,
    keyValues([
      ['version', kernel.version],
      ['source', `${kernel.source.package} ${kernel.source.packageVersion}`],
      ['dir', kernel.dir],
      ['size', formatBytes(kernel.sizeBytes)],
      ['boot modules', kernel.bootModules.join(' ') || '-'],
      ['built', kernel.builtAt],
      ['registered', kernel.registeredAt],
      ['used by', kernel.usedBy.join(', ') || '-'],
    ]),
  ].join('\n');
}

async function pull(ctx: CliContext, name: string, options: { json?: boolean; explain?: boolean }): Promise<void> {
  const result = await streamedCall(ctx, 'kernel.pull', { name }, options);
  if (options.json || options.explain || !result.kernel) return;
  ctx.out(`kernel ${result.kernel.name} ${result.kernel.version} is ready (${result.kernel.dir})`);
}

interface BuildOptions {
  fromDeb: string;
  name?: string;
  publish?: string;
  json?: boolean;
  explain?: boolean;
}

async function build(ctx: CliContext, options: BuildOptions): Promise<void> {
  const params = { debPackage: options.fromDeb, ...(options.name ? { name: options.name } : {}), ...(options.publish ? { publish: options.publish } : {}) };
  const result = await streamedCall(ctx, 'kernel.build', params, options);
  if (options.json || options.explain || !result.kernel) return;
  ctx.out(`kernel ${result.kernel.name} ${result.kernel.version} is ready (${result.kernel.dir})`);
  if (result.published) ctx.out(`published ${result.published.reference}@${result.published.digest}`);
}

async function importBundle(ctx: CliContext, dir: string, options: { name?: string; json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const kernel = await client.call('kernel.import', { dir: resolve(dir), ...(options.name ? { name: options.name } : {}) }, { signal: ctx.signal });
  ctx.out(options.json ? toJson(kernel) : `imported kernel ${kernel.name} ${kernel.version} into ${kernel.dir}`);
}

async function remove(ctx: CliContext, name: string, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const removed = await client.call('kernel.rm', { name }, { signal: ctx.signal });
  ctx.out(options.json ? toJson(removed) : `removed kernel ${removed.name} (${removed.dir})`);
}

async function catalog(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const result = await client.call('kernel.catalog', {}, { signal: ctx.signal });
  if (options.json) return ctx.out(toJson(result));
  ctx.out(formatTable(['NAME', 'FROM', 'INSTALLED', 'DESCRIPTION'], result.entries.map((e) => [e.name, origin(e), e.installed ? 'yes' : 'no', e.description])));
}

function origin(entry: KernelCatalogEntryWire): string {
  return [entry.oci ? entry.oci : entry.bundle ? 'bundle' : '', entry.recipe ? `deb:${entry.recipe.debPackage}` : ''].filter(Boolean).join(' + ');
}

async function publish(ctx: CliContext, name: string, reference: string, options: { json?: boolean; explain?: boolean }): Promise<void> {
  const result = await streamedCall(ctx, 'kernel.publish', { name, reference }, options);
  if (options.json || options.explain || !result.published) return;
  ctx.out(`published kernel ${name} as ${result.published.reference}@${result.published.digest}`);
}
