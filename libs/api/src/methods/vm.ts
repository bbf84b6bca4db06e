import * as z from 'zod';
import { lazySchema } from '@banger/taskgraph';
import { StepEventSchema } from '@banger/taskgraph';
import { defineMethod } from '../method.js';
import { planSummarySchema } from './kernel.js';
import { sshTargetSchema, workspaceSyncResultSchema } from './workspace.js';

const vmName = lazySchema(() => z.string().min(1).max(200));

/** A VM as `vm list` shows it. */
export const vmInfoSchema = lazySchema(() => z.object({
  name: z.string(),
  id: z.string(),
  state: z.enum(['creating', 'running', 'stopped', 'suspended', 'failed', 'deleting']),
  /** Why it is in that state ("qemu exited with status 1", "creation interrupted; …"). */
  stateReason: z.string().optional(),
  image: z.string(),
  kernel: z.string(),
  vcpu: z.number().int(),
  memoryMib: z.number().int(),
  diskBytes: z.number().int(),
  ip: z.string().optional(),
  /** `qemu/tcg`, `firecracker/kvm`. */
  hypervisor: z.string(),
  /** ISO 8601. */
  createdAt: z.string(),
  /** The guest agent as the daemon last saw it (absent: not tried since the daemon started, or the VM is not running). */
  agent: z
    .discriminatedUnion('state', [
      z.object({ state: z.literal('up'), version: z.string(), pid: z.number().int(), since: z.string() }),
      z.object({ state: z.literal('down'), reason: z.string(), since: z.string() }),
    ])
    .optional(),
}));
export type VmInfoWire = z.infer<typeof vmInfoSchema>;

/** `vm show`: the list fields plus paths, network and how it runs. */
export const vmDetailsSchema = lazySchema(() => vmInfoSchema.extend({
  mac: z.string().optional(),
  tap: z.string().optional(),
  /** The hypervisor's pid while it runs. */
  pid: z.number().int().optional(),
  dir: z.string(),
  consoleLog: z.string(),
  hypervisorDetails: z.object({ kind: z.string(), accel: z.string(), binary: z.string(), version: z.string().optional(), reason: z.string(), warning: z.string().optional() }),
  sizing: z.object({ vcpu: z.string(), memoryMib: z.string(), diskBytes: z.string() }),
  fileSync: z.array(z.object({ host: z.string(), guest: z.string(), mode: z.string().optional() })),
}));
export type VmDetailsWire = z.infer<typeof vmDetailsSchema>;

/** A line to print as is before the progress: the `spec:` line, a TCG warning. */
export const vmNoticeEventSchema = lazySchema(() => z.object({ type: z.literal('vm-notice'), time: z.number(), graphId: z.string(), line: z.string() }));

/** `vm.run` names its VM (and how it got it) before anything runs: the CLI's `--rm` needs the name even after Ctrl-C. */
export const vmSelectedEventSchema = lazySchema(() => z.object({
  type: z.literal('vm-selected'),
  time: z.number(),
  graphId: z.string(),
  vm: z.string(),
  how: z.enum(['created', 'started', 'reused']),
}));

/** What `vm.create` / `vm.start` / `vm.restart` / `vm.run` stream: task-graph events and notices. */
export const vmProgressEventSchema = lazySchema(() => z.union([vmNoticeEventSchema, vmSelectedEventSchema, StepEventSchema]));
export type VmProgressEventWire = z.infer<typeof vmProgressEventSchema>;

/**
 * The one definition of what describes a new VM on the wire (`vm create`,
 * `vm run`): absent fields are decided by the daemon (vm_defaults, the
 * image's kernel), and the `spec:` line says where each value came from.
 */
export const newVmParamsSchema = lazySchema(() => z.object({
  name: vmName.optional(),
  image: z.string().min(1).optional(),
  kernel: z.string().min(1).optional(),
  vcpu: z.number().int().optional(),
  memoryMib: z.number().int().optional(),
  diskBytes: z.number().int().optional(),
  /** `--cold`: boot cold even when warm_start is on. */
  cold: z.boolean().optional(),
}));
export type NewVmParams = z.infer<typeof newVmParamsSchema>;

const absolutePath = lazySchema(() => z.string().min(1).startsWith('/', 'must be an absolute path'));

/** A terminal's columns or rows (TIOCSWINSZ takes 16 bits). */
const terminalDimension = lazySchema(() => z.number().int().min(1).max(65535));

/** `banger vm …`: the VM lifecycle. */
export const vmMethods = {
  'vm.create': defineMethod(() => ({
    description: 'Creates (or resumes creating) a VM and leaves it running; streams the spec line and task-graph events.',
    params: newVmParamsSchema.extend({
      /** Plan only: the reason for every step, nothing changed. */
      explain: z.boolean().optional(),
    }),
    result: z.object({ vm: vmInfoSchema.optional(), plan: planSummarySchema.optional() }),
    event: vmProgressEventSchema,
  })),
  'vm.start': defineMethod(() => ({
    description: "Starts a stopped VM by running its graph again (tap, boot, wait for ssh; the rest is satisfied); a running VM is left as it is.",
    params: z.object({ name: vmName, explain: z.boolean().optional() }),
    result: z.object({ vm: vmInfoSchema.optional(), plan: planSummarySchema.optional() }),
    event: vmProgressEventSchema,
  })),
  'vm.run': defineMethod(() => ({
    description:
      "`vm run` in one call: reuses a running --name, starts a stopped one or creates a VM, then syncs the workspace (only changes), checks out --branch and starts the mise bootstrap — one task graph; returns the VM, how it was obtained, the sync and the ssh target.",
    params: newVmParamsSchema.extend({
      workspace: z.object({ repoDir: absolutePath, branch: z.string().min(1).optional(), from: z.string().min(1).optional() }).optional(),
      /** How long the boot waits for the agent or sshd, in ms (`--ssh-timeout`). */
      sshTimeoutMs: z.number().int().positive().max(3_600_000).optional(),
      /** False when the caller goes through the guest agent (`vm run -- cmd`): sshd is waited for only when the agent is down. */
      sshNeeded: z.boolean().optional(),
      /** Delete the VM when the run fails or is cancelled (except after an ssh timeout). */
      rm: z.boolean().optional(),
      explain: z.boolean().optional(),
    }),
    result: z.object({
      vm: vmInfoSchema.optional(),
      how: z.enum(['created', 'started', 'reused']).optional(),
      sync: workspaceSyncResultSchema.optional(),
      target: sshTargetSchema.optional(),
      plan: planSummarySchema.optional(),
    }),
    event: vmProgressEventSchema,
  })),
  'vm.stop': defineMethod(() => ({
    description: 'Shuts a VM down (power button, then a kill after a grace period; --force kills at once).',
    params: z.object({ name: vmName, force: z.boolean().optional() }),
    result: vmInfoSchema,
  })),
  'vm.suspend': defineMethod(() => ({
    description: 'Freezes a running VM into its directory (RAM and device state) and ends its hypervisor; vm.start continues it where it was.',
    params: z.object({ name: vmName }),
    result: vmInfoSchema,
  })),
  'vm.restart': defineMethod(() => ({
    description: 'Stops and starts a VM.',
    params: z.object({ name: vmName, force: z.boolean().optional() }),
    result: vmInfoSchema,
    event: vmProgressEventSchema,
  })),
  'vm.delete': defineMethod(() => ({
    description:
      'Deletes a VM: stops it, removes its tap, lease, pinned host key, step state, directory and record. With background (vm run --rm): answers once the VM is marked for removal (gone from vm list; its name waits for the removal) and removes it in the daemon, killed (force); a daemon killed meanwhile finishes it at its next start.',
    params: z.object({ name: vmName, force: z.boolean().optional(), background: z.boolean().optional() }),
    result: z.object({ name: z.string(), removed: z.array(z.string()), background: z.boolean().optional() }),
  })),
  'vm.orphans': defineMethod(() => ({
    description: 'Lists leaked or orphaned resources (taps, bridge ports, VM dirs without a record and records without a dir, stale leases, hypervisor processes no VM records, unused runtime disks); with fix, removes them.',
    params: z.object({ fix: z.boolean().optional() }).optional(),
    result: z.object({
      orphans: z.array(z.object({ kind: z.string(), name: z.string(), detail: z.string() })),
      removed: z.array(z.string()),
    }),
  })),
  'vm.list': defineMethod(() => ({
    description: 'Lists the VMs, sorted by name.',
    params: z.object({}).optional(),
    result: z.array(vmInfoSchema),
  })),
  'vm.show': defineMethod(() => ({
    description: 'Shows one VM with its paths, network and hypervisor (and why it was picked).',
    params: z.object({ name: vmName }),
    result: vmDetailsSchema,
  })),
  'vm.logs': defineMethod(() => ({
    description: "Streams a VM's guest console (or, with daemon, the daemon's log lines about it); follow keeps streaming until cancelled.",
    params: z.object({ name: vmName, follow: z.boolean().optional(), lines: z.number().int().nonnegative().optional(), daemon: z.boolean().optional() }),
    result: z.object({ lines: z.number().int() }),
    event: z.object({ line: z.string() }),
  })),
  'vm.ssh': defineMethod(() => ({
    description: 'The OpenSSH command line that reaches a running VM (banger key, pinned known_hosts); the CLI runs it.',
    params: z.object({ name: vmName, command: z.array(z.string()).optional(), tty: z.boolean().optional() }),
    result: z.object({ argv: z.array(z.string()).min(1), ip: z.string() }),
  })),
  'vm.exec': defineMethod(() => ({
    description:
      "Runs a command in a running VM through its guest agent (no shell; a pseudo-terminal with tty): the call's input is the command's stdin; events carry stdout and stderr (base64, byte-exact) and acknowledge consumed input; control messages resize the terminal; the result is how it ended.",
    params: z.object({
      /** Run on a pseudo-terminal of this size (its output, stdout and stderr together, comes as stdout events). */
      tty: z.strictObject({ cols: terminalDimension, rows: terminalDimension, term: z.string().min(1).max(100).optional() }).optional(),
      name: vmName,
      argv: z.array(z.string()).min(1),
      env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment names are letters, digits and _'), z.string()).optional(),
      cwd: z.string().min(1).optional(),
      user: z.string().min(1).optional(),
    }),
    result: z.object({ code: z.number().int().nullable(), signal: z.string().nullable(), exitStatus: z.number().int() }),
    event: z.union([
      z.strictObject({ started: z.number().int() }),
      z.strictObject({ stdout: z.string() }),
      z.strictObject({ stderr: z.string() }),
      /** Bytes of input the command's stdin has taken since the last ack. */
      z.strictObject({ ack: z.number().int().nonnegative() }),
    ]),
    /** The local terminal was resized (with tty only). */
    control: z.strictObject({ resize: z.strictObject({ cols: terminalDimension, rows: terminalDimension }) }),
  })),
};
