import { existsSync } from 'node:fs';
import { listWarmTemplates, removeWarmTemplate } from './warm-template.js';

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

/** Removes every warm template of an image (`image rm`). */
export async function removeWarmTemplatesOf(vmsDir: string, image: string): Promise<WarmTemplateInfo[]> {
  const templates = await warmTemplatesOf(vmsDir, image);
  for (const t of templates) await removeWarmTemplate(t.dir);
  return templates;
}

/**
 * `image prune`: removes the templates no new VM can use any more — their
 * image is gone or was replaced (another content digest), or their agent
 * runtime disk is gone (another banger or node made a new one). A template
 * of the current inputs is kept: it is what makes the next `vm run` warm.
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
  return { removed, freedBytes };
}
