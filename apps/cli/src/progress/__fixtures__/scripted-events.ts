import type { StepEvent } from '@banger/taskgraph';

const MiB = 1024 * 1024;
const g = 'vm:sandbox';

/** A scripted `vm run`: one skip, a download with progress, output lines, a failure and its blocked dependent. */
export const script: StepEvent[] = [
  {
    type: 'graph-planned',
    time: 1000,
    graphId: g,
    steps: [
      { id: 'vm.fetch-kernel', title: 'Fetch kernel', needs: [], action: 'skip', reason: 'satisfied' },
      { id: 'vm.fetch-image', title: 'Fetch image', needs: [], action: 'run', reason: 'never ran' },
      { id: 'vm.boot', title: 'Boot the VM', needs: ['vm.fetch-kernel', 'vm.fetch-image'], action: 'run', reason: 'never ran' },
      { id: 'vm.wait-ssh', title: 'Wait for ssh', needs: ['vm.boot'], action: 'run', reason: 'never ran' },
    ],
  },
  { type: 'step-skipped', time: 1001, graphId: g, stepId: 'vm.fetch-kernel', reason: 'satisfied' },
  { type: 'step-started', time: 1002, graphId: g, stepId: 'vm.fetch-image' },
  { type: 'step-progress', time: 2002, graphId: g, stepId: 'vm.fetch-image', done: 4 * MiB, total: 40 * MiB, unit: 'bytes' },
  { type: 'step-progress', time: 3002, graphId: g, stepId: 'vm.fetch-image', done: 12 * MiB, total: 40 * MiB, unit: 'bytes' },
  { type: 'step-progress', time: 4002, graphId: g, stepId: 'vm.fetch-image', done: 20 * MiB, total: 40 * MiB, unit: 'bytes' },
  { type: 'step-progress', time: 6002, graphId: g, stepId: 'vm.fetch-image', done: 40 * MiB, total: 40 * MiB, unit: 'bytes' },
  { type: 'step-succeeded', time: 6010, graphId: g, stepId: 'vm.fetch-image', durationMs: 5008 },
  { type: 'step-started', time: 6011, graphId: g, stepId: 'vm.boot' },
  { type: 'step-output', time: 6500, graphId: g, stepId: 'vm.boot', line: 'qemu: starting' },
  {
    type: 'step-failed',
    time: 7000,
    graphId: g,
    stepId: 'vm.boot',
    error: { name: 'HostCommandError', code: 'HOST_COMMAND_FAILED', message: 'qemu exited with status 1', exitCode: 125 },
    hint: 'run banger vm logs sandbox',
  },
  { type: 'step-blocked', time: 7001, graphId: g, stepId: 'vm.wait-ssh', by: 'vm.boot' },
  { type: 'graph-finished', time: 7002, graphId: g, ok: false, durationMs: 6002, failedStep: 'vm.boot' },
];
