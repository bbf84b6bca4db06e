import { resolve } from 'node:path';
import { isOciReference, type ImageCatalogEntryWire, type ImageInfo } from '@banger/api';
import { UserError } from '@banger/errors';
import type { CommandGroup } from '../command-group.js';
import type { CliContext } from '../../context.js';
import { nameArgument, nameOption } from '../../completion/resource-names.js';
import { keyValues, toJson } from '../../output/format.js';
import { formatBytes } from '../../progress/index.js';
import { formatTable, shortTime } from '../kernel/format-table.js';
import { streamedCall } from '../streamed-call.js';

/** `banger image list|show|pull|build|register|rm|prune|catalog`. */
export const imageCommands: CommandGroup = (program, ctx) => {
  const image = program.command('image').description('root filesystem images: pull from the catalog, build from recipes, register your own');
  image
    .command('list')
    .alias('ls')
    .description('list the registered images')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => list(ctx, options));
  image
    .command('show')
    .description('show one registered image')
    .addArgument(nameArgument('image', '<name>', 'the image'))
    .option('--json', 'print JSON')
    .action((name: string, options: { json?: boolean }) => show(ctx, name, options));
  image
    .command('pull')
    .description('download a catalog image, or pull an OCI/Docker image from a registry, and register it')
    .argument('<name|reference>', 'catalog name (see banger image catalog), or an OCI reference: anything with a "/", ":" or "@" (debian:bookworm, 127.0.0.1:5000/team/tools@sha256:…)')
    .option('--name <name>', 'OCI only: the image name (default: derived from the reference, e.g. debian-bookworm)')
    .option('--insecure', 'OCI only: allow plain http to a non-loopback registry')
    .option('--provision', 'OCI only: install an init and sshd with the image\'s package manager even if it has them (runs the image\'s code as root)')
    .option('--no-provision', 'OCI only: never run the image\'s code; refuse an image without /sbin/init or sshd')
    .option('--json', 'print progress events as NDJSON')
    .option('--explain', 'print what would run and why; change nothing')
    .action((arg: string, options: PullOptions) => pull(ctx, arg, options));
  image
    .command('build')
    .description('build an image from a recipe with mmdebstrap and register it (a no-op when the recipe is unchanged)')
    .argument('<recipe>', 'built-in recipe name (debian-bookworm, debian-minimal) or a recipe .toml path')
    .option('--publish <dir|oci://ref>', 'also write the bundle and update the catalog index.json in <dir>, or push it to a registry (oci://registry[:port]/repository[:tag])')
    .option('--json', 'print progress events as NDJSON')
    .option('--explain', 'print what would run and why; change nothing')
    .action((recipe: string, options: { publish?: string; json?: boolean; explain?: boolean }) => build(ctx, recipe, options));
  image
    .command('register')
    .description('register a local ext4 rootfs file as an image (it is copied)')
    .requiredOption('--name <name>', 'the image name')
    .requiredOption('--rootfs <file>', 'an ext4 image file with /sbin/init')
    .addOption(nameOption('kernel', '--kernel <name>', 'default kernel for VMs from this image (default debian-cloud)'))
    .option('--json', 'print JSON')
    .action((options: { name: string; rootfs: string; kernel?: string; json?: boolean }) => register(ctx, options));
  image
    .command('publish')
    .description('push a registered image to an OCI registry as a banger bundle (pull it with a catalog entry naming the reference)')
    .addArgument(nameArgument('image', '<name>', 'the image'))
    .argument('<reference>', 'oci://registry[:port]/repository[:tag] (the tag defaults to the image version)')
    .option('--json', 'print progress events as NDJSON')
    .option('--explain', 'print what would run and why; change nothing')
    .action((name: string, reference: string, options: { json?: boolean; explain?: boolean }) => publish(ctx, name, reference, options));
  image
    .command('rm')
    .alias('remove')
    .description('remove an image (refused while a VM uses it)')
    .addArgument(nameArgument('image', '<name>', 'the image'))
    .option('--json', 'print JSON')
    .action((name: string, options: { json?: boolean }) => remove(ctx, name, options));
  image
    .command('prune')
    .description('delete the cached OCI layers and manifests no registered image uses, and the warm templates no new VM can use')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => prune(ctx, options));
  image
    .command('catalog')
    .description('list the images banger can pull (embedded catalog + catalog_url)')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => catalog(ctx, options));
};

async function list(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const images = await client.call('image.list', {}, { signal: ctx.signal });
  if (options.json) return ctx.out(toJson(images));
  if (images.length === 0) return ctx.out('no images registered (hint: banger image pull debian-bookworm)');
  ctx.out(
    formatTable(
      ['NAME', 'VERSION', 'SIZE', 'KERNEL', 'ORIGIN', 'REGISTERED', 'USED BY'],
      images.map((i) => [i.name, i.version, formatBytes(i.sizeBytes), i.kernel ?? '', i.origin, shortTime(i.registeredAt), i.usedBy.join(',')]),
    ),
  );
}

async function show(ctx: CliContext, name: string, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const image = await client.call('image.show', { name }, { signal: ctx.signal });
  ctx.out(options.json ? toJson(image) : describe(image));
}

/** `image show`'s warm templates: one per kernel and VM size, with the disk they use. */
function warmLine(image: ImageInfo): string {
  const templates = image.warmTemplates ?? [];
  if (templates.length === 0) return 'none (the next warm vm run of it builds one)';
  const total = templates.reduce((sum, t) => sum + t.bytes, 0);
  const each = templates.map((t) => `${t.fingerprint} (${t.kernel}, ${t.vcpu} vCPU, ${t.memoryMib} MiB, ${formatBytes(t.diskBytes)} disk: ${formatBytes(t.bytes)})`);
  return `${templates.length}, ${formatBytes(total)} on disk: ${each.join('; ')}`;
}

/** The human `image show` text. */
export function describe(image: ImageInfo): string {
  return [
    `image ${image.name}`,
    keyValues([
      ['version', image.version],
      ['origin', image.origin],
      ['rootfs', `${image.rootfsPath} (${formatBytes(image.sizeBytes)}, sparse)`],
      ['sha256', image.sha256],
      ['kernel', image.kernel ?? '-'],
      ['recipe hash', image.recipeHash ?? '-'],
      ['packages', image.packageCount > 0 ? String(image.packageCount) : 'unknown'],
      ['built', image.builtAt],
      ['registered', image.registeredAt],
      ['used by', image.usedBy.join(', ') || '-'],
      ['warm templates', warmLine(image)],
      ...(image.oci
        ? ([
            ['reference', image.oci.reference],
            ['manifest', image.oci.manifestDigest],
            ...(image.oci.indexDigest ? [['index', image.oci.indexDigest] as [string, string]] : []),
            ['config', image.oci.configDigest],
            ['provisioned', image.oci.provisioned ? 'yes (packages installed by banger)' : 'no'],
          ] as [string, string][])
        : []),
    ]),
  ].join('\n');
}

interface PullOptions {
  name?: string;
  insecure?: boolean;
  provision?: boolean;
  json?: boolean;
  explain?: boolean;
}

async function pull(ctx: CliContext, arg: string, options: PullOptions): Promise<void> {
  if (isOciReference(arg)) return pullOci(ctx, arg, options);
  const ociOnly = (['name', 'insecure', 'provision'] as const).filter((flag) => options[flag] !== undefined);
  if (ociOnly.length > 0) {
    const flag = ociOnly[0] === 'provision' && options.provision === false ? 'no-provision' : ociOnly[0];
    throw new UserError('IMAGE_PULL_FLAG_OCI_ONLY', `--${flag} only applies to OCI references, and ${JSON.stringify(arg)} is a catalog name`, {
      hint: `an OCI reference contains "/", ":" or "@": write ${arg}:latest or docker.io/library/${arg} for Docker Hub's ${arg}`,
    });
  }
  const name = arg;
  const result = await streamedCall(ctx, 'image.pull', { name }, options);
  if (options.json) return;
  for (const warning of result.warnings) ctx.err(`banger: warning: ${warning}`);
  if (options.explain || !result.image) return;
  ctx.out(`image ${result.image.name} ${result.image.version} is ready (${result.image.rootfsPath})`);
}

async function pullOci(ctx: CliContext, reference: string, options: PullOptions): Promise<void> {
  const result = await streamedCall(
    ctx,
    'image.pull-oci',
    {
      reference,
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.insecure ? { insecure: true } : {}),
      ...(options.provision !== undefined ? { provision: options.provision } : {}),
    },
    options,
  );
  if (options.json) return;
  for (const warning of result.warnings) ctx.err(`banger: warning: ${warning}`);
  if (options.explain || !result.image) return;
  const image = result.image;
  const source = image.oci ? `${image.oci.reference} ${image.oci.manifestDigest}` : reference;
  ctx.out(`image ${image.name} is ready: ${source} (${image.rootfsPath})`);
}

async function prune(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const result = await client.call('image.prune', {}, { signal: ctx.signal });
  if (options.json) return ctx.out(toJson(result));
  const kept = result.keptImages.length ? ` (kept the layers of ${result.keptImages.join(', ')})` : '';
  ctx.out(
    result.removedBlobs.length === 0
      ? `nothing to prune in ${result.cacheDir}${kept}`
      : `removed ${result.removedBlobs.length} blob${result.removedBlobs.length === 1 ? '' : 's'}, freed ${formatBytes(result.freedBytes)} from ${result.cacheDir}${kept}`,
  );
  const templates = result.removedTemplates ?? [];
  if (templates.length > 0) ctx.out(`removed ${templates.length} stale warm template${templates.length === 1 ? '' : 's'} (${templates.join(', ')}), freed ${formatBytes(result.templateFreedBytes ?? 0)}`);
}

async function build(ctx: CliContext, recipe: string, options: { publish?: string; json?: boolean; explain?: boolean }): Promise<void> {
  // The daemon runs in /: paths must be absolute. A bare name is a built-in recipe.
  const recipeArg = recipe.includes('/') || recipe.endsWith('.toml') ? resolve(recipe) : recipe;
  // An oci:// reference goes as typed; a directory is made absolute (the daemon runs in /).
  const publish = options.publish === undefined ? undefined : options.publish.startsWith('oci://') ? options.publish : resolve(options.publish);
  const result = await streamedCall(ctx, 'image.build', { recipe: recipeArg, ...(publish ? { publish } : {}) }, options);
  if (options.json || options.explain || !result.image) return;
  ctx.out(`image ${result.image.name} ${result.image.version} is ready (${result.image.rootfsPath})`);
  const published = result.published;
  if (published?.reference) ctx.out(`published ${published.reference}@${published.digest}`);
  else if (published) ctx.out(`published ${published.bundle} in ${published.index}`);
}

async function register(ctx: CliContext, options: { name: string; rootfs: string; kernel?: string; json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const result = await client.call(
    'image.register',
    { name: options.name, rootfs: resolve(options.rootfs), ...(options.kernel ? { kernel: options.kernel } : {}) },
    { signal: ctx.signal },
  );
  if (options.json) return ctx.out(toJson(result));
  for (const warning of result.warnings) ctx.err(`banger: warning: ${warning}`);
  ctx.out(`registered image ${result.image.name} ${result.image.version} (${result.image.rootfsPath})`);
}

async function remove(ctx: CliContext, name: string, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const removed = await client.call('image.rm', { name }, { signal: ctx.signal });
  ctx.out(options.json ? toJson(removed) : `removed image ${removed.name} (${removed.dir})`);
}

async function catalog(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const result = await client.call('image.catalog', {}, { signal: ctx.signal });
  if (options.json) return ctx.out(toJson(result));
  for (const warning of result.warnings) ctx.err(`banger: warning: ${warning}`);
  ctx.out(
    formatTable(
      ['NAME', 'VERSION', 'FROM', 'INSTALLED', 'DESCRIPTION'],
      result.entries.map((e) => [e.name, e.version ?? '', origin(e), e.installed ? 'yes' : 'no', e.description]),
    ),
  );
  if (result.source) ctx.out(`(catalog: embedded + ${result.source})`);
}

function origin(entry: ImageCatalogEntryWire): string {
  return [entry.bundle ? `bundle ${formatBytes(entry.bundle.size)}` : '', entry.recipe ? `recipe:${entry.recipe}` : ''].filter(Boolean).join(' + ');
}

async function publish(ctx: CliContext, name: string, reference: string, options: { json?: boolean; explain?: boolean }): Promise<void> {
  const result = await streamedCall(ctx, 'image.publish', { name, reference }, options);
  if (options.json || options.explain || !result.published) return;
  ctx.out(`published image ${name} as ${result.published.reference}@${result.published.digest}`);
}
