import * as z from 'zod';
import { lazySchema } from '@banger/taskgraph';
import { defineMethod } from '../method.js';

const vmName = lazySchema(() => z.string().min(1).max(200));
/** Checked again in the guest; here so a bad name fails before any VM work. */
const sessionName = lazySchema(() => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'session names are letters, digits, _ . - (1–63, starting with a letter or digit)'));
const signalName = lazySchema(() => z.string().regex(/^SIG[A-Z0-9+-]+$/, 'a signal name such as SIGTERM'));

/** One session as `vm session list` shows it. */
export const sessionInfoSchema = lazySchema(() => z.object({
  vm: z.string(),
  name: z.string(),
  argv: z.array(z.string()),
  cwd: z.string(),
  user: z.string().optional(),
  tty: z.boolean(),
  pid: z.number().int(),
  /** ISO 8601 (guest clock). */
  startedAt: z.string(),
  /** `lost`: its keeper was killed inside the guest before recording an end. */
  state: z.enum(['running', 'exited', 'lost']),
  code: z.number().int().nullable(),
  signal: z.string().nullable(),
  endedAt: z.string().optional(),
  /** Bytes of output since it started. */
  outputBytes: z.number().int(),
  /** Bytes of output the guest still keeps (at most two 8 MiB segments). */
  keptBytes: z.number().int(),
}));
export type SessionInfoWire = z.infer<typeof sessionInfoSchema>;

/** Long-lived sessions in a VM (docs/advanced.md, docs/agent.md "Sessions"). */
export const sessionMethods = {
  'vm.session.start': defineMethod(() => ({
    description: 'Starts a named process in a running VM, supervised in the guest; returns once it runs.',
    params: z.object({
      vm: vmName,
      name: sessionName.optional(),
      argv: z.array(z.string()).min(1),
      env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment names are letters, digits and _'), z.string()).optional(),
      cwd: z.string().min(1).optional(),
      user: z.string().min(1).optional(),
      tty: z.object({ cols: z.number().int().positive(), rows: z.number().int().positive(), term: z.string().optional() }).optional(),
    }),
    result: sessionInfoSchema,
  })),
  'vm.session.list': defineMethod(() => ({
    description: 'Lists the sessions of one VM or of every running VM; VMs whose sessions cannot be listed are named with why.',
    params: z.object({ vm: vmName.optional() }),
    result: z.object({ sessions: z.array(sessionInfoSchema), unavailable: z.array(z.object({ vm: z.string(), reason: z.string() })) }),
  })),
  'vm.session.logs': defineMethod(() => ({
    description: "Streams a session's kept output (its last `tail` lines); with follow, new output until it ends or the call is cancelled.",
    params: z.object({ vm: vmName, name: sessionName, tail: z.number().int().nonnegative().optional(), follow: z.boolean().optional() }),
    result: z.object({ bytes: z.number().int() }),
    event: z.strictObject({ data: z.string() }),
  })),
  'vm.session.send': defineMethod(() => ({
    description: "Writes the call's input to a session's stdin; events acknowledge consumed input.",
    params: z.object({ vm: vmName, name: sessionName }),
    result: z.object({ bytes: z.number().int() }),
    event: z.strictObject({ ack: z.number().int().nonnegative() }),
  })),
  'vm.session.stop': defineMethod(() => ({
    description: "Sends a signal (default SIGTERM) to a session's process group; SIGKILL when it has not ended after the timeout.",
    params: z.object({ vm: vmName, name: sessionName, signal: signalName.optional(), timeoutMs: z.number().int().nonnegative().optional() }),
    result: sessionInfoSchema,
  })),
  'vm.session.resize': defineMethod(() => ({
    description: "Tells a --tty session's terminal its new size (the command gets SIGWINCH).",
    params: z.object({ vm: vmName, name: sessionName, rows: z.number().int().min(1).max(9999), cols: z.number().int().min(1).max(9999) }),
    result: sessionInfoSchema,
  })),
  'vm.session.rm': defineMethod(() => ({
    description: 'Removes an ended session (its output and record) from the guest.',
    params: z.object({ vm: vmName, name: sessionName }),
    result: z.object({ vm: z.string(), name: z.string() }),
  })),
};
