import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '@banger/errors';
import { DOCKER_HUB_REGISTRY } from './reference.js';

/** A username and password (or identity token) for one registry. */
export interface RegistryCredentials {
  username: string;
  password: string;
}

/**
 * Where Docker keeps credentials: `$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`.
 */
export function defaultDockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['DOCKER_CONFIG'] ?? join(homedir(), '.docker'), 'config.json');
}

/** `https://index.docker.io/v1/`, `host:port`, `https://host:port/v2/` all name a registry host. */
function hostOfAuthKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!.toLowerCase();
  return host === 'index.docker.io' || host === 'docker.io' || host === 'registry.hub.docker.com' ? DOCKER_HUB_REGISTRY : host;
}

/**
 * Reads the credentials for `registry` from a Docker config file
 * (`auths.<registry>.auth` = base64 `user:pass`, or `username`/`password`).
 * A missing file or a registry without an entry gives undefined; a file that
 * is not valid JSON or an `auth` that does not decode is a UserError naming
 * the file and the key. Credential helpers (`credsStore`, `credHelpers`) are
 * not run.
 */
export async function loadDockerCredentials(registry: string, configPath = defaultDockerConfigPath()): Promise<RegistryCredentials | undefined> {
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError('DOCKER_CONFIG_UNREADABLE', `cannot read Docker config ${configPath}: ${(error as Error).message}`, { cause: error });
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw new UserError('DOCKER_CONFIG_INVALID', `Docker config ${configPath} is not valid JSON: ${(error as Error).message}`, {
      hint: 'fix the file or point DOCKER_CONFIG elsewhere',
      cause: error,
    });
  }
  const auths = (config as { auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }> }).auths;
  if (!auths || typeof auths !== 'object') return undefined;
  const wanted = registry.toLowerCase();
  for (const [key, entry] of Object.entries(auths)) {
    if (hostOfAuthKey(key) !== wanted || !entry || typeof entry !== 'object') continue;
    if (typeof entry.auth === 'string' && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) {
        throw new UserError('DOCKER_CONFIG_INVALID', `Docker config ${configPath}: auths."${key}".auth does not decode to user:password`, {
          hint: `run docker login ${key} again, or remove the entry`,
        });
      }
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (typeof entry.username === 'string' && typeof entry.password === 'string') {
      return { username: entry.username, password: entry.password };
    }
  }
  return undefined;
}
