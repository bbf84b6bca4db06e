import * as z from 'zod';
import { lazySchema } from '@banger/taskgraph';

/** What `vm.run` learns about a host repository before any VM work starts. */
export const workspaceInfoSchema = lazySchema(() => z.object({
  /** The repository's top directory, absolute. */
  repoDir: z.string(),
  /** Its basename: it names the guest directory and the tooling log. */
  repoName: z.string(),
  /** `/root/<repoName>`. */
  guestDir: z.string(),
  /** How many files a full sync copies (tracked + untracked-not-ignored + .git). */
  files: z.number().int().nonnegative(),
  /** True when .mise.toml, mise.toml or .tool-versions is present: the run bootstraps tooling. */
  miseConfig: z.boolean(),
}));
export type WorkspaceInfo = z.infer<typeof workspaceInfoSchema>;

/** What the workspace steps of one `vm.run` did. */
export const workspaceSyncResultSchema = lazySchema(() => workspaceInfoSchema.extend({
  vm: z.string(),
  /** Files (and symlinks) sent this time, and their content bytes: only what changed since the last sync to this VM. */
  transferred: z.object({ files: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() }),
  /** Paths removed from the guest copy because they are gone on the host. */
  deleted: z.array(z.string()),
  /** True when nothing had changed since the last sync (no guest command ran). */
  unchanged: z.boolean(),
  /** How the changes went into the guest: through the guest agent, or over ssh (the agent was down); absent when nothing ran. */
  via: z.enum(['agent', 'ssh']).optional(),
  /** The branch the guest copy is on, when `--branch` was given. */
  branch: z.object({ name: z.string(), from: z.string() }).optional(),
  /** The mise bootstrap: started in the background (its log path), or why not. */
  /** `commandPrefix`: the shell prefix of a command run in the workspace (waits for the bootstrap, puts mise's shims on PATH). */
  mise: z.object({ started: z.boolean(), log: z.string(), commandPrefix: z.string(), detail: z.string() }).optional(),
}));
export type WorkspaceSyncResult = z.infer<typeof workspaceSyncResultSchema>;

/** Where and how to reach a running VM over ssh (for the CLI's own ssh clients). */
export const sshTargetSchema = lazySchema(() => z.object({
  vm: z.string(),
  ip: z.string(),
  user: z.string(),
  /** banger's private key file (ssh_key_path or the managed one). */
  keyPath: z.string(),
  /** banger's pinned known_hosts file. */
  knownHostsPath: z.string(),
  /** The VM's pinned host public key line (`ssh-ed25519 AAAA…`). */
  hostKey: z.string(),
}));
export type SshTargetWire = z.infer<typeof sshTargetSchema>;
