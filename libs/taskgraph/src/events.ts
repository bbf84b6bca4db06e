import * as z from 'zod';
import { lazySchema } from './lazy-schema.js';

/** The wire form of an error (`WireError` of `@banger/errors`), as a schema. */
export const WireErrorSchema = lazySchema(() => z.object({
  name: z.string(),
  kind: z.string().optional(),
  code: z.string(),
  message: z.string(),
  hint: z.string().optional(),
  exitCode: z.number().int(),
  causes: z.array(z.string()).optional(),
  host: z
    .object({
      command: z.string(),
      argv: z.array(z.string()),
      stderr: z.string(),
      exitStatus: z.number().int().optional(),
      signal: z.string().optional(),
      timedOut: z.boolean(),
    })
    .optional(),
}));

/** The fields every event has (a function: the schemas are built on first use, see lazySchema). */
const base = () => ({ time: z.number(), graphId: z.string() });

/** Run or skip, as decided by the plan. */
export const StepActionSchema = lazySchema(() => z.enum(['run', 'skip']));

/**
 * Everything a task graph run tells its watchers, as plain JSON. The daemon
 * streams these to the CLI (`{"id", "event"}` lines); the CLI renders them.
 *
 * Ordering contract for one graph run: `graph-planned` first, then for every
 * planned step exactly one terminal event (`step-skipped`, `step-succeeded`,
 * `step-failed`, `step-blocked` or `step-cancelled`), preceded by
 * `step-started` (and any `step-output`/`step-progress`) when it ran, and
 * `graph-finished` last.
 */
export const StepEventSchema = lazySchema(() => z.discriminatedUnion('type', [
  z.object({
    ...base(),
    type: z.literal('graph-planned'),
    steps: z.array(
      z.object({ id: z.string(), title: z.string(), needs: z.array(z.string()), action: StepActionSchema, reason: z.string() }),
    ),
  }),
  z.object({ ...base(), type: z.literal('step-started'), stepId: z.string() }),
  z.object({ ...base(), type: z.literal('step-output'), stepId: z.string(), line: z.string() }),
  z.object({
    ...base(),
    type: z.literal('step-progress'),
    stepId: z.string(),
    done: z.number(),
    total: z.number().optional(),
    /** `bytes` when reported through `report.bytes()`: rendered with rate and ETA. */
    unit: z.enum(['bytes', 'items']).optional(),
  }),
  z.object({ ...base(), type: z.literal('step-skipped'), stepId: z.string(), reason: z.string() }),
  z.object({ ...base(), type: z.literal('step-succeeded'), stepId: z.string(), durationMs: z.number() }),
  z.object({ ...base(), type: z.literal('step-failed'), stepId: z.string(), error: WireErrorSchema, hint: z.string().optional() }),
  z.object({ ...base(), type: z.literal('step-blocked'), stepId: z.string(), by: z.string() }),
  z.object({ ...base(), type: z.literal('step-cancelled'), stepId: z.string() }),
  z.object({
    ...base(),
    type: z.literal('graph-finished'),
    ok: z.boolean(),
    durationMs: z.number(),
    failedStep: z.string().optional(),
    /** True when the run stopped because its signal was aborted. */
    cancelled: z.boolean().optional(),
  }),
]));

/** One task-graph event; see `StepEventSchema`. */
export type StepEvent = z.infer<typeof StepEventSchema>;

/** The `type` values of `StepEvent`. */
export type StepEventType = StepEvent['type'];

/** A `StepEvent` of one given type. */
export type StepEventOf<T extends StepEventType> = Extract<StepEvent, { type: T }>;
