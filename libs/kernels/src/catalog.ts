import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { InternalError, NotFoundError, UserError } from '@banger/errors';
import embedded from './catalog.json' with { type: 'json' };
import { KERNEL_NAME_PATTERN } from './bundle-manifest.js';

/** One kernel banger knows how to get: a published bundle, a recipe to build it, or both. */
export interface KernelCatalogEntry {
  name: string;
  description: string;
  /** Build from this Debian package when there is no reachable bundle. */
  recipe?: { debPackage: string };
  /** A published bundle (`banger kernel pack` output): tar.zst URL and its sha256. */
  bundle?: { url: string; sha256: string };
  /** A bundle published to an OCI registry (`kernel build --publish oci://…`); wins over `bundle`. */
  oci?: string;
}

/** The kernel used when config's default_kernel_name is not set. */
export const DEFAULT_KERNEL_NAME = 'debian-cloud';

const entrySchema = z
  .object({
    name: z.string().regex(KERNEL_NAME_PATTERN),
    description: z.string(),
    recipe: z.object({ debPackage: z.string().min(1) }).optional(),
    bundle: z.object({ url: z.url(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
    oci: z
      .string()
      .regex(/^oci:\/\/[^\s/]+\/[^\s]+$/, 'must be oci://<registry>[:port]/<repository>[:tag][@sha256:<digest>]')
      .optional(),
  })
  .refine((entry) => entry.recipe || entry.bundle || entry.oci, { message: 'needs a recipe, a bundle or an oci reference' });
const catalogSchema = z.object({ formatVersion: z.literal(1), entries: z.array(entrySchema) });

/** Validates a catalog document; `source` names it in errors. */
export function parseKernelCatalog(document: unknown, source: string): KernelCatalogEntry[] {
  const parsed = catalogSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError('KERNEL_CATALOG_INVALID', `invalid kernel catalog ${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, {
      hint: 'see docs/kernel-catalog.md for the catalog format',
    });
  }
  return parsed.data.entries as KernelCatalogEntry[];
}

const EMBEDDED = parseKernelCatalog(embedded, 'libs/kernels/src/catalog.json');

/** The catalog compiled into banger. */
export function embeddedKernelCatalog(): KernelCatalogEntry[] {
  return EMBEDDED.map((entry) => structuredClone(entry));
}

/**
 * The kernel catalog: the embedded entries, overlaid (by name) with the
 * entries of the JSON index at `remoteIndexUrl` (config's kernel_catalog_url;
 * http(s):// or file://) when one is given. An unreachable or invalid remote index is a UserError.
 */
export async function kernelCatalog(remoteIndexUrl?: string, signal?: AbortSignal): Promise<KernelCatalogEntry[]> {
  const entries = new Map(embeddedKernelCatalog().map((entry) => [entry.name, entry]));
  if (remoteIndexUrl) {
    let document: unknown;
    try {
      if (remoteIndexUrl.startsWith('file:')) {
        document = JSON.parse(await readFile(fileURLToPath(remoteIndexUrl), 'utf8'));
      } else {
        const response = await fetch(remoteIndexUrl, signal ? { signal } : {});
        if (!response.ok) throw new InternalError('HTTP_ERROR_STATUS', `HTTP ${response.status}`);
        document = await response.json();
      }
    } catch (error) {
      throw new UserError('KERNEL_CATALOG_UNREACHABLE', `cannot read kernel catalog ${remoteIndexUrl}: ${(error as Error).message}`, {
        hint: 'check kernel_catalog_url in config.toml, or unset it to use the embedded catalog',
        cause: error,
      });
    }
    for (const entry of parseKernelCatalog(document, remoteIndexUrl)) entries.set(entry.name, entry);
  }
  return [...entries.values()];
}

/** The catalog entry called `name`; NotFoundError listing the known names otherwise. */
export function findCatalogEntry(name: string, entries: readonly KernelCatalogEntry[] = EMBEDDED): KernelCatalogEntry {
  const entry = entries.find((candidate) => candidate.name === name);
  if (!entry) {
    throw new NotFoundError('KERNEL_NOT_IN_CATALOG', `unknown kernel ${name}: the catalog has ${entries.map((e) => e.name).join(', ') || 'no entries'}`, {
      hint: 'run banger kernel list --catalog, or build one with banger kernel build --from-deb <package>',
    });
  }
  return structuredClone(entry);
}
