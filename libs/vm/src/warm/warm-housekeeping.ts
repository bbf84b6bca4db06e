import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { cleanStaleTemps, run, serialized } from '@banger/host';
import { fingerprintOf, removeStaleTemplateBuild, templateBuildKey } from './stale-template-builds.js';
import { listWarmTemplates, readWarmTemplate, removeWarmTemplate, warmRoot, WarmTemplateDir } from './warm-template.js';

/** One warm template, as `image show` lists it. */
export interface WarmTemplateInfo {
  fingerprint: string;
  vcpu: number;
  memoryMib: number;
  diskBytes: number;
  kernel: string;
  /** Disk use of its directory (allocated blocks: the disks are sparse). */
  bytes: number;
  createdAt: string;
  dir: string;
}

/** The warm templates of an image (by name), with their disk use. */
export async function warmTemplatesOf(vmsDir: string, image: string): Promise<WarmTemplateInfo[]> {
  return (await listWarmTemplates(vmsDir))
    .filter((t) => t.meta.inputs.image === image)
    .map((t) => ({
      fingerprint: t.meta.fingerprint,
      vcpu: Number(t.meta.inputs.vcpu),
      memoryMib: Number(t.meta.inputs.memoryMib),
      diskBytes: Number(t.meta.inputs.diskBytes),
      kernel: t.meta.inputs.kernel,
      bytes: t.bytes,
      createdAt: t.meta.createdAt,
      dir: t.dir,
    }));
}

/**
 * The template directories no VM can use: renamed into place only once
 * complete, so one that is not (its state or a disk deleted, its
 * template.json unreadable) was damaged afterwards. `image` is what its
 * template.json names, when it can be read. Builds in progress (temp
 * siblings) are not listed.
 */
function incompleteTemplates(vmsDir: string): Array<{ dir: string; image?: string }> {
  const root = warmRoot(vmsDir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => !name.startsWith('.') && !name.includes('.tmp-'))
    .map((name) => new WarmTemplateDir(join(root, name)))
    .filter((dir) => readWarmTemplate(dir) === undefined)
    .map((dir) => {
      try {
        const image = (JSON.parse(readFileSync(dir.meta, 'utf8')) as { inputs?: { image?: unknown } }).inputs?.image;
        return typeof image === 'string' ? { dir: dir.root, image } : { dir: dir.root };
      } catch {
        return { dir: dir.root };
      }
    });
}

/** Removes every warm template of an image (`image rm`), a damaged one as well. */
export async function removeWarmTemplatesOf(vmsDir: string, image: string): Promise<WarmTemplateInfo[]> {
  const templates = await warmTemplatesOf(vmsDir, image);
  for (const t of templates) await removeWarmTemplate(t.dir);
  for (const t of incompleteTemplates(vmsDir)) if (t.image === image) await removeWarmTemplate(t.dir);
  return templates;
}

/**
 * `image prune`: removes the templates no new VM can use any more — their
 * image is gone or was replaced (another content digest), or their agent
 * runtime disk is gone (another banger or node made a new one). A template
 * of the current inputs is kept: it is what makes the next `vm run` warm.
 * A damaged template (see incompleteTemplates) is removed too.
 */
export async function pruneWarmTemplates(vmsDir: string, imageSha256: (name: string) => string | undefined): Promise<{ removed: string[]; freedBytes: number }> {
  const removed: string[] = [];
  let freedBytes = 0;
  for (const t of await listWarmTemplates(vmsDir)) {
    const current = imageSha256(t.meta.inputs.image);
    if (current === t.meta.inputs.imageSha256 && existsSync(t.meta.inputs.runtimeDisk)) continue;
    await removeWarmTemplate(t.dir);
    removed.push(`${t.meta.inputs.image}/${t.meta.fingerprint}`);
    freedBytes += t.bytes;
  }
  for (const t of incompleteTemplates(vmsDir)) {
    const du = await run('du', ['-s', '--block-size=1', t.dir], { allowFailure: true });
    await removeWarmTemplate(t.dir);
    removed.push(`${t.image ?? 'unknown image'}/${basename(t.dir)} (incomplete)`);
    freedBytes += Number(du.stdout.split(/\s/)[0]) || 0;
  }
  return { removed, freedBytes };
}

/**
 * Every stale template build under `<state>/warm` (its daemon is gone),
 * removed with its processes and tap (removeStaleTemplateBuild), each under
 * its template's build key: at daemon start (reconcileVms). A build of a
 * live daemon is left alone. Returns the removed directories.
 */
export function cleanStaleTemplateBuilds(vmsDir: string): Promise<string[]> {
  const root = warmRoot(vmsDir);
  // cleanStaleTemps looks at every temp sibling in the directory of the path it is given.
  return cleanStaleTemps(join(root, 'template'), (dir) => serialized(templateBuildKey(join(root, fingerprintOf(dir))), () => removeStaleTemplateBuild(dir)));
}
