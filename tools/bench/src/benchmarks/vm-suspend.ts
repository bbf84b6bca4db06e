// Issue 20: getting a 1 GiB VM back. banger = `banger vm suspend <vm>` then
// `banger vm resume <vm>` (QEMU saves the whole VM to a file and ends; the
// resume loads it, sets the clock, waits for ssh and the agent). Baseline =
// `banger vm stop <vm>` then `banger vm start <vm>`: the cold boot a VM
// without suspend costs (systemd, sshd, the agent), same VM, same CLI, so the
// difference is the boot alone. Alternately, against one VM (debian-minimal,
// QEMU/TCG on the netns bridge). Runs only inside the netns harness:
//   cd tools/bench && node build.mjs && ../e2e/netns-run.sh node dist/main.mjs 'suspend'
import { findExecutable } from '@banger/host';
import { defineBenchmark } from '../benchmark.js';
import { createBenchVm, type BenchVm } from '../fixtures/bench-vm.js';
import { logSetup } from '../fixtures/cache-dir.js';
import { vmArtifactsProblem } from '../fixtures/vm-artifacts.js';
import { lastLine, type VmSizing } from '../fixtures/vm-banger-home.js';

const VM_NAME = 'bsusp';
const SIZING: VmSizing = { vcpu: 2, memoryMib: 1024, diskBytes: 2 * 2 ** 30 };
const STEP_TIMEOUT_MS = 5 * 60_000;

async function cli(ctx: BenchVm, args: string[]): Promise<void> {
  const result = await ctx.home.cli(args, STEP_TIMEOUT_MS);
  if (result.exitCode !== 0) throw new Error(`banger ${args.join(' ')} exited ${result.exitCode}: ${lastLine(result.stderr) || lastLine(result.stdout)}`);
}

export default defineBenchmark<BenchVm>({
  name: 'a 1 GiB VM back: `banger vm suspend` + `vm resume` (QEMU/TCG guest)',
  baseline: '`banger vm stop` + `banger vm start` of the same VM (a cold boot to ssh and the agent)',
  runs: 5,
  skip() {
    if (!process.env['BANGER_NETNS']) return 'boots a VM: runs only inside the netns harness (../e2e/netns-run.sh node dist/main.mjs …)';
    for (const tool of ['qemu-system-x86_64', 'mkfs.ext4', 'debugfs', 'ip', 'gcc']) if (!findExecutable(tool)) return `${tool} is not installed`;
    return vmArtifactsProblem();
  },
  async setup() {
    const vm = await createBenchVm('bbsusp-', VM_NAME, SIZING);
    logSetup(`VM ${VM_NAME} (debian-minimal, ${SIZING.vcpu} vCPU, ${SIZING.memoryMib} MiB) created in ${(vm.createdInMs / 1000).toFixed(1)} s`);
    return vm;
  },
  async banger(ctx) {
    await cli(ctx, ['vm', 'suspend', VM_NAME]);
    await cli(ctx, ['vm', 'resume', VM_NAME]);
  },
  async runBaseline(ctx) {
    await cli(ctx, ['vm', 'stop', VM_NAME]);
    await cli(ctx, ['vm', 'start', VM_NAME]);
  },
  async teardown(ctx) {
    await ctx.teardown();
  },
});
