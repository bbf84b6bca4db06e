import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertVmName } from './vm-name.js';

/**
 * Every file that belongs to one VM, in one place: nothing else builds a
 * path inside a VM's directory. Modelled on firecracker-containerd's vm.Dir.
 */
export class VmDir {
  readonly root: string;

  constructor(vmsDir: string, readonly name: string) {
    assertVmName(name);
    this.root = join(vmsDir, name);
  }

  /** Creates the directory (0700: it holds the guest's private host key). */
  create(): this {
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    return this;
  }

  get rootfs(): string { return join(this.root, 'rootfs.ext4'); }
  get workDisk(): string { return join(this.root, 'work.ext4'); }
  get workStaging(): string { return join(this.root, 'work-staging'); }
  get consoleLog(): string { return join(this.root, 'console.log'); }
  get hypervisorLog(): string { return join(this.root, 'hypervisor.log'); }
  get agentSocket(): string { return join(this.root, 'agent.sock'); }
  get pidFile(): string { return join(this.root, 'hypervisor.pid'); }
  get hostPrivateKey(): string { return join(this.root, 'ssh_host_ed25519_key'); }
  get hostPublicKey(): string { return join(this.root, 'ssh_host_ed25519_key.pub'); }
  /** What the hypervisor was last started with (the driver spec and binary): a suspended state only resumes under the same. */
  get specFile(): string { return join(this.root, 'spec.json'); }
  /** `vm suspend`: the VM's RAM and device state, and what it was started with. */
  get suspendState(): string { return join(this.root, 'suspend.state'); }
  get suspendMeta(): string { return join(this.root, 'suspend.json'); }
  /** Left by a resume until the agent has set the guest clock and reseeded its RNG. */
  get resyncPending(): string { return join(this.root, 'resync-pending'); }
  /** A warm VM: its rootfs / work disk is a copy of this template (the file holds the template's dir) until the restore. */
  warmCopy(disk: 'rootfs' | 'work'): string { return join(this.root, `warm-${disk}`); }
  /** Left by a restore from a warm template until the agent has given the guest this VM's identity. */
  get identityPending(): string { return join(this.root, 'identity-pending'); }
  /** Host-side manifest of what the last workspace sync put in the guest, per repo. */
  workspaceManifest(repoName: string): string { return join(this.root, `workspace-${repoName}.json`); }
}
