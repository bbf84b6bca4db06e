import { closestMatch } from './suggest.js';

/** A leaf key, a table of keys, or an array of tables (`[[x]]`). */
type KeySpec = 'leaf' | { [key: string]: KeySpec } | [{ [key: string]: KeySpec }];

/** Every key config.toml may contain. Kept beside the zod schema; docs/config.md lists the same set. */
export const KNOWN_KEYS: { [key: string]: KeySpec } = {
  default_image_name: 'leaf',
  default_kernel_name: 'leaf',
  ssh_key_path: 'leaf',
  firecracker_bin: 'leaf',
  qemu_bin: 'leaf',
  hypervisor: 'leaf',
  bridge_name: 'leaf',
  bridge_subnet: 'leaf',
  catalog_url: 'leaf',
  kernel_catalog_url: 'leaf',
  debian_mirror: 'leaf',
  debian_keyring: 'leaf',
  dns_port: 'leaf',
  dns_upstreams: 'leaf',
  interrupted_create_expiry: 'leaf',
  warm_start: 'leaf',
  disk_spares: 'leaf',
  vm_defaults: { vcpu: 'leaf', memory_mib: 'leaf', disk_size: 'leaf' },
  file_sync: [{ host: 'leaf', guest: 'leaf', mode: 'leaf' }],
};

/** A config key that banger does not know, with where it is and what to suggest. */
export interface UnknownKey {
  /** Path inside the document, array indices included: `['file_sync', 1, 'hots']`. */
  path: Array<string | number>;
  /** Dotted key as users write it, without indices: `file_sync.hots`. */
  dotted: string;
  /** Extra location text for array-of-tables entries: `in [[file_sync]] entry 2`. */
  where?: string;
  hint: string;
}

/** Finds the first unknown key at any depth, in document order, or undefined. */
export function findUnknownKey(document: Record<string, unknown>): UnknownKey | undefined {
  return walk(document, KNOWN_KEYS, [], []);
}

function walk(
  value: Record<string, unknown>,
  spec: { [key: string]: KeySpec },
  path: Array<string | number>,
  dottedParts: string[],
): UnknownKey | undefined {
  for (const [key, child] of Object.entries(value)) {
    const childSpec = Object.hasOwn(spec, key) ? spec[key] : undefined;
    const childPath = [...path, key];
    const childDotted = [...dottedParts, key];
    if (childSpec === undefined) return unknown(key, spec, childPath, childDotted);
    if (childSpec === 'leaf') continue;
    if (Array.isArray(childSpec)) {
      if (!Array.isArray(child)) continue; // wrong shape: the schema reports it
      for (const [index, entry] of child.entries()) {
        if (isTable(entry)) {
          const found = walk(entry, childSpec[0], [...childPath, index], childDotted);
          if (found) return found;
        }
      }
      continue;
    }
    if (isTable(child)) {
      const found = walk(child, childSpec, childPath, childDotted);
      if (found) return found;
    }
  }
  return undefined;
}

function unknown(key: string, siblings: { [key: string]: KeySpec }, path: Array<string | number>, dottedParts: string[]): UnknownKey {
  const parentDotted = dottedParts.slice(0, -1).join('.');
  const full = (k: string) => (parentDotted ? `${parentDotted}.${k}` : k);
  const arrayIndex = path.length >= 2 ? path[path.length - 2] : undefined;
  const where = typeof arrayIndex === 'number' ? `in [[${parentDotted}]] entry ${arrayIndex + 1}` : undefined;
  const close = closestMatch(key, Object.keys(siblings));
  let hint: string;
  if (close) {
    hint = `did you mean "${full(close)}"?`;
  } else {
    const elsewhere = allDottedKeys().find((k) => k.split('.').at(-1) === key.toLowerCase().replace(/-/g, '_') && k !== full(key));
    if (elsewhere) {
      const table = elsewhere.split('.').slice(0, -1).join('.');
      hint = table ? `"${key}" belongs in the [${table}] table` : `"${key}" is a top-level key: move it above the first [table] header`;
    } else {
      const scope = parentDotted ? `in [${parentDotted}]` : 'at the top level';
      hint = `valid keys ${scope}: ${Object.keys(siblings).join(', ')} (see docs/config.md)`;
    }
  }
  return { path, dotted: dottedParts.join('.'), ...(where ? { where } : {}), hint };
}

/** Every known key as a dotted path (`vm_defaults.vcpu`, `file_sync.host`). */
export function allDottedKeys(spec: { [key: string]: KeySpec } = KNOWN_KEYS, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, child] of Object.entries(spec)) {
    const dotted = prefix ? `${prefix}.${key}` : key;
    if (child === 'leaf') out.push(dotted);
    else out.push(...allDottedKeys(Array.isArray(child) ? child[0] : child, dotted));
  }
  return out;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
