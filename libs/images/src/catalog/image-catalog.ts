import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InternalError, NotFoundError, UserError } from '@banger/errors';
import embedded from './catalog.json' with { type: 'json' };
import { catalogIndexSchema, type CatalogEntry, type CatalogIndex } from './catalog-schema.js';

/** The merged catalog `banger image catalog` shows. */
export interface ImageCatalog {
  /** Embedded entries overlaid by the remote/local index's (which win by name), sorted by name. */
  entries: CatalogEntry[];
  /** The index.json that was merged in, if any. */
  source?: string;
  /** Why the configured catalog could not be used (the embedded one is still returned). */
  warnings: string[];
}

/** The catalog compiled into banger (libs/images/src/catalog/catalog.json). */
export const embeddedCatalog = (): CatalogIndex => catalogIndexSchema.parse(embedded);

/**
 * The embedded catalog merged with `catalogUrl` (config `catalog_url`): an
 * http(s) URL of an index.json, a file:// URL, or a local path (a directory
 * holding index.json, or the file itself). Its entries take precedence by
 * name and their bundle URLs are made absolute against the index location.
 * An unreachable catalog is a warning, not a failure; an invalid one is a
 * UserError naming it.
 */
export async function imageCatalog(options: { catalogUrl?: string; signal?: AbortSignal } = {}): Promise<ImageCatalog> {
  const byName = new Map(embeddedCatalog().images.map((e) => [e.name, e]));
  const warnings: string[] = [];
  let source: string | undefined;
  if (options.catalogUrl) {
    const location = indexLocation(options.catalogUrl);
    let text: string | undefined;
    try {
      text = await fetchText(location, options.signal);
    } catch (error) {
      warnings.push(`catalog ${location} is unreachable (${(error as Error).message}); using the embedded catalog`);
    }
    if (text !== undefined) {
      const index = parseIndex(text, location);
      source = location;
      for (const entry of index.images) {
        const base = byName.get(entry.name);
        byName.set(entry.name, { ...base, ...absolutize(entry, location) });
      }
    }
  }
  const entries = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  return { entries, warnings, ...(source ? { source } : {}) };
}

/** The entry called `name`, or a NotFoundError listing the known names. */
export function findImageEntry(catalog: Pick<ImageCatalog, 'entries'>, name: string): CatalogEntry {
  const entry = catalog.entries.find((e) => e.name === name);
  if (!entry) {
    throw new NotFoundError('IMAGE_NOT_IN_CATALOG', `image "${name}" is not in the catalog: known images are ${catalog.entries.map((e) => e.name).join(', ')}`, {
      hint: 'run banger image catalog, or set catalog_url to a published index.json',
    });
  }
  return entry;
}

/** Parses an index.json; errors name the file and the bad key. */
export function parseIndex(text: string, source: string): CatalogIndex {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UserError('CATALOG_INVALID', `catalog ${source}: not valid JSON: ${(error as Error).message}`, { hint: 'fix or republish the index.json', cause: error });
  }
  const result = catalogIndexSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new UserError('CATALOG_INVALID', `catalog ${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, { hint: 'fix or republish the index.json' });
  }
  return result.data;
}

/** index.json's URL for a configured catalog location. */
export function indexLocation(catalogUrl: string): string {
  if (/^https?:\/\//.test(catalogUrl) || catalogUrl.startsWith('file:')) {
    return catalogUrl.endsWith('.json') ? catalogUrl : `${catalogUrl.replace(/\/?$/, '/')}index.json`;
  }
  const path = isAbsolute(catalogUrl) ? catalogUrl : resolve(catalogUrl);
  return pathToFileURL(path.endsWith('.json') ? path : join(path, 'index.json')).href;
}

function absolutize(entry: CatalogEntry, location: string): CatalogEntry {
  if (!entry.bundle) return entry;
  const bundle = { ...entry.bundle, url: new URL(entry.bundle.url, location).href };
  if (entry.bundle.manifestUrl) bundle.manifestUrl = new URL(entry.bundle.manifestUrl, location).href;
  return { ...entry, bundle };
}

async function fetchText(url: string, signal?: AbortSignal): Promise<string> {
  if (url.startsWith('file:')) return readFile(new URL(url), 'utf8');
  const response = await fetch(url, { signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(15_000)]) : AbortSignal.timeout(15_000) });
  if (!response.ok) throw new InternalError('HTTP_ERROR_STATUS', `HTTP ${response.status}`);
  return response.text();
}
