import { InternalError, UserError } from '@banger/errors';
import { formatPlatform, type Platform } from './manifest.js';

/** The parts of an OCI image config banger reads. */
export interface ImageConfig {
  platform: Platform;
  /** Uncompressed layer digests, one per layer, lowest first. */
  diffIds: string[];
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir?: string;
  user?: string;
}

/** Parses an image config blob; `where` names the image in errors. */
export function parseImageConfig(bytes: Buffer, where: string): ImageConfig {
  let json: {
    architecture?: string;
    os?: string;
    variant?: string;
    config?: { Env?: string[]; Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string; User?: string } | null;
    rootfs?: { type?: string; diff_ids?: string[] };
  };
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InternalError('OCI_CONFIG_INVALID', `image config of ${where} is not JSON: ${(error as Error).message}`);
  }
  if (typeof json.architecture !== 'string' || typeof json.os !== 'string') {
    throw new UserError('OCI_NOT_AN_IMAGE', `${where} is not a container image: its config has no os/architecture`, {
      hint: 'OCI artifacts (helm charts, signatures…) cannot become VM images',
    });
  }
  const c = json.config ?? {};
  return {
    platform: { os: json.os, architecture: json.architecture, ...(json.variant ? { variant: json.variant } : {}) },
    diffIds: Array.isArray(json.rootfs?.diff_ids) ? json.rootfs.diff_ids : [],
    env: Array.isArray(c.Env) ? c.Env : [],
    entrypoint: Array.isArray(c.Entrypoint) ? c.Entrypoint : [],
    cmd: Array.isArray(c.Cmd) ? c.Cmd : [],
    ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
    ...(c.User ? { user: c.User } : {}),
  };
}

/** Refuses an image whose config says it is not linux/amd64 (a single-platform manifest has no index to choose from). */
export function assertAmd64(config: ImageConfig, where: string): void {
  if (config.platform.os !== 'linux' || config.platform.architecture !== 'amd64') {
    throw new UserError('OCI_PLATFORM_NOT_FOUND', `image ${where} is ${formatPlatform(config.platform)}, not linux/amd64`, {
      hint: 'banger VMs are x86_64; use an image built for linux/amd64',
    });
  }
}
