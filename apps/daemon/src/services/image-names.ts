import { ConflictError, UserError } from '@banger/errors';

const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The lock key of everything that writes images/<name> (pull, OCI pull, build, register, rm). */
export const imageLockKey = (name: string): string => `image:${name}`;
/**
 * Graph ids: a catalog pull and an OCI pull of the same name share `image:<name>`
 * (their step ids differ: `image.fetch` vs `image.oci-pull`); a build keeps its own.
 */
export const pullGraphId = (name: string): string => `image:${name}`;
export const buildGraphId = (name: string): string => `image-build:${name}`;

/** Refuses a name that is not a valid image name (also a DNS label prefix, no `/`, `:` or `@`). */
export function checkName(name: string): void {
  if (!IMAGE_NAME.test(name)) {
    throw new UserError('IMAGE_BAD_NAME', `invalid image name ${JSON.stringify(name)}: use lower-case letters, digits, '.', '_' and '-' (at most 63)`);
  }
}

/** The error for touching an image while a pull or build of it runs. */
export function busy(name: string): ConflictError {
  return new ConflictError('IMAGE_BUSY', `image ${name} is being pulled or built right now`, { hint: 'wait for that command to finish (or cancel it), then retry' });
}
