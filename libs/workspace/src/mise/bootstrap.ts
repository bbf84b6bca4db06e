import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { shellQuote } from '@banger/ssh';

/** Files that tell mise which tools a repository wants. */
export const MISE_CONFIG_FILES = ['.mise.toml', 'mise.toml', '.tool-versions'] as const;

/** True when the host repository has a mise config, i.e. vm run should bootstrap tooling. */
export async function needsMiseBootstrap(repoDir: string): Promise<boolean> {
  for (const name of MISE_CONFIG_FILES) {
    if (await access(join(repoDir, name)).then(() => true, () => false)) return true;
  }
  return false;
}

/** Where the bootstrap logs go in the guest. */
export const MISE_LOG_DIR = '/root/.cache/banger';

/** Options of the mise bootstrap helpers. */
export interface MiseBootstrapOptions {
  /** The workspace's name (the host directory's basename); it names the log. */
  repoName: string;
  /** The workspace in the guest, e.g. `/root/<repo>`. */
  guestDir: string;
  /** Override of MISE_LOG_DIR, for tests that run the script on the host. */
  logDir?: string;
}

/** The guest log of a repository's tooling bootstrap: `/root/.cache/banger/vm-run-tooling-<repo>.log`. */
export function miseLogPath(repoName: string, logDir = MISE_LOG_DIR): string {
  return `${logDir}/vm-run-tooling-${safeName(repoName)}.log`;
}

/**
 * The lock the bootstrap holds while it runs (`flock`): `vm run -- cmd` waits
 * on it, so the command sees the tools it installed.
 */
export function miseLockPath(repoName: string, logDir = MISE_LOG_DIR): string {
  return `${logDir}/vm-run-tooling-${safeName(repoName)}.lock`;
}

/**
 * A POSIX sh script that runs `mise trust` + `mise install` in `guestDir`,
 * appending everything to miseLogPath(repoName). It always exits 0: tooling
 * is best effort and never fails a run. The log records the start, each step
 * with its exit status, and why it stopped (no config, no mise on PATH, a
 * failed step) so `cat` on it answers "why is node missing?".
 */
export function miseBootstrapScript(options: MiseBootstrapOptions): string {
  const log = shellQuote(miseLogPath(options.repoName, options.logDir));
  const dir = shellQuote(options.guestDir);
  return `mkdir -p ${shellQuote(options.logDir ?? MISE_LOG_DIR)}
exec >>${log} 2>&1 </dev/null
# fd 9 is the lock the starter took (see miseBootstrapCommand); wait for an earlier bootstrap that still holds it.
if command -v flock >/dev/null 2>&1 && { true >&9; } 2>/dev/null; then flock 9; fi
say() { printf '[banger %s] %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
say "tooling bootstrap for ${options.guestDir.replace(/[^A-Za-z0-9_./-]/g, '_')}: starting"
cd -- ${dir} || { say "cannot enter the workspace directory; giving up"; exit 0; }
if [ ! -e .mise.toml ] && [ ! -e mise.toml ] && [ ! -e .tool-versions ]; then say "no .mise.toml, mise.toml or .tool-versions; nothing to do"; exit 0; fi
PATH="$PATH:/root/.local/bin:/usr/local/bin"
if ! command -v mise >/dev/null 2>&1; then say "mise is not installed in this image (not on PATH: $PATH); skipping"; exit 0; fi
say "mise $(mise --version 2>/dev/null | head -n 1)"
say "running: mise trust --all"
mise trust --all; status=$?
if [ "$status" -ne 0 ]; then say "mise trust failed (exit status $status); skipping mise install"; exit 0; fi
say "running: mise install"
mise install; status=$?
if [ "$status" -ne 0 ]; then say "mise install failed (exit status $status); see the output above (no network in the guest?)"; exit 0; fi
say "tooling bootstrap finished"
exit 0
`;
}

/**
 * A guest command line that starts miseBootstrapScript detached and returns
 * at once: setsid and closed descriptors let the ssh session end while the
 * bootstrap keeps going. The lock (miseLockPath) is taken here, before
 * returning, and handed to the bootstrap as fd 9, so a command started right
 * after cannot slip in before the bootstrap holds it.
 */
export function miseBootstrapCommand(options: MiseBootstrapOptions): string {
  const script = shellQuote(miseBootstrapScript(options));
  const lock = shellQuote(miseLockPath(options.repoName, options.logDir));
  return [
    `mkdir -p ${shellQuote(options.logDir ?? MISE_LOG_DIR)}`,
    `exec 9>>${lock}`,
    'if command -v flock >/dev/null 2>&1; then flock -n 9 || true; fi',
    `if command -v setsid >/dev/null 2>&1; then setsid sh -c ${script} </dev/null >/dev/null 2>&1 & else nohup sh -c ${script} </dev/null >/dev/null 2>&1 & fi`,
    'exit 0',
  ].join('\n');
}

/**
 * The shell prefix of `vm run ./repo -- cmd` in a workspace with a mise
 * config: waits while the tooling bootstrap holds its lock, then puts mise's
 * shims first on PATH, so `node`, `python`… are the versions the repository
 * pins. Harmless where mise or flock are missing.
 */
export function miseCommandPrefix(lockPath: string): string {
  const lock = shellQuote(lockPath);
  return `if [ -e ${lock} ] && command -v flock >/dev/null 2>&1; then flock -s ${lock} true; fi; PATH="\${MISE_DATA_DIR:-$HOME/.local/share/mise}/shims:$PATH"; export PATH; `;
}

const safeName = (name: string): string => name.replace(/[^A-Za-z0-9._-]/g, '_') || 'repo';
