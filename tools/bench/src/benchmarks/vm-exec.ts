// Issue 17: a command in a warm VM. banger = `banger vm exec <vm> -- true`
// (the real CLI → the running daemon → its open connection to the guest
// agent → the agent spawns `true`). Baseline = `ssh root@<vm ip> true`: the
// system OpenSSH client with banger's key and the VM's pinned host key, a
// new connection (key exchange, auth, a session) per run — what a user
// types. Both against the same running VM (debian-minimal, QEMU/TCG on the
// netns bridge), alternately. Runs only inside the netns harness:
//   cd tools/bench && node build.mjs && ../e2e/netns-run.sh node dist/main.mjs 'vm exec'
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable, run } from '@banger/host';
import { defineBenchmark } from '../benchmark.js';
import { createBenchVm, type BenchVm } from '../fixtures/bench-vm.js';
import { logSetup } from '../fixtures/cache-dir.js';
import { vmArtifactsProblem } from '../fixtures/vm-artifacts.js';
import { lastLine, type VmSizing } from '../fixtures/vm-banger-home.js';

const VM_NAME = 'bexec';
const SIZING: VmSizing = { vcpu: 2, memoryMib: 1024, diskBytes: 2 * 2 ** 30 };
const RUN_TIMEOUT_MS = 120_000;

interface Context extends BenchVm {
  ssh: string[];
}

export default defineBenchmark<Context>({
  name: 'a command in a warm VM: `banger vm exec <vm> -- true` (QEMU/TCG guest)',
  baseline: '`ssh -i <banger key> -o UserKnownHostsFile=<pinned> root@<vm ip> true` (OpenSSH, a new connection each run) into the same VM',
  runs: 10,
  skip() {
    if (!process.env['BANGER_NETNS']) return 'boots a VM: runs only inside the netns harness (../e2e/netns-run.sh node dist/main.mjs …)';
    for (const tool of ['qemu-system-x86_64', 'ssh', 'mkfs.ext4', 'debugfs', 'ip', 'gcc']) if (!findExecutable(tool)) return `${tool} is not installed`;
    return vmArtifactsProblem();
  },
  async setup() {
    const vm = await createBenchVm('bbexec-', VM_NAME, SIZING);
    try {
      const { home, dir } = vm;
      const shown = await home.cli(['vm', 'show', VM_NAME, '--json'], 60_000);
      const info = JSON.parse(shown.stdout) as { ip?: string; agent?: { state: string; reason?: string } };
      if (!info.ip) throw new Error(`banger vm show ${VM_NAME} --json has no ip`);
      if (info.agent?.state !== 'up') throw new Error(`the guest agent of ${VM_NAME} is not up: ${info.agent?.reason ?? 'no state'}`);
      const hostKey = (await readFile(join(home.stateDir, 'vms', VM_NAME, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
      const knownHosts = join(dir, 'known_hosts');
      await writeFile(knownHosts, `${info.ip} ${hostKey}\n`);
      const keyPath = join(home.home, 'config', 'ssh', 'id_ed25519');
      const ssh = ['-i', keyPath, '-F', '/dev/null', '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `root@${info.ip}`, 'true'];
      logSetup(`VM ${VM_NAME} (debian-minimal, ${SIZING.vcpu} vCPU, ${SIZING.memoryMib} MiB) up at ${info.ip} with its agent in ${(vm.createdInMs / 1000).toFixed(1)} s; baseline: ssh ${ssh.join(' ')}`);
      return { ...vm, ssh };
    } catch (error) {
      await vm.teardown().catch(() => undefined);
      throw error;
    }
  },
  async banger(ctx) {
    const result = await ctx.home.cli(['vm', 'exec', VM_NAME, '--', 'true'], RUN_TIMEOUT_MS);
    if (result.exitCode !== 0) throw new Error(`banger vm exec -- true exited ${result.exitCode}: ${lastLine(result.stderr)}`);
  },
  async runBaseline(ctx) {
    await run('ssh', ctx.ssh, { timeoutMs: RUN_TIMEOUT_MS });
  },
  async teardown(ctx) {
    await ctx.teardown();
  },
});
