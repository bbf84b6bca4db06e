import * as z from 'zod';
import { lazySchema } from '@banger/taskgraph';
import { WireErrorSchema } from '@banger/taskgraph';

/**
 * The longest line either side accepts (1 MiB, newline excluded). A longer line
 * gets an error reply and the connection is closed: nothing legitimate is that
 * big, and buffering without bound would let one client exhaust the daemon.
 */
export const MAX_LINE_BYTES = 1024 * 1024;

/** A request id: chosen by the client, echoed on every message of the reply. */
export const requestIdSchema = lazySchema(() => z.union([z.string().min(1).max(200), z.number().int().safe()]));
export type RequestId = z.infer<typeof requestIdSchema>;

/** `{"id", "method", "params"}`: starts a call. `params` is checked by the method's own schema. */
export const requestEnvelopeSchema = lazySchema(() => z.strictObject({
  id: requestIdSchema,
  method: z.string().min(1).max(200),
  params: z.unknown().optional(),
}));
export type RequestEnvelope = z.infer<typeof requestEnvelopeSchema>;

/** `{"id", "cancel": true}`: aborts the AbortSignal of an in-flight call. */
export const cancelEnvelopeSchema = lazySchema(() => z.strictObject({ id: requestIdSchema, cancel: z.literal(true) }));
export type CancelEnvelope = z.infer<typeof cancelEnvelopeSchema>;

/**
 * `{"id", "input": "<base64>"}` / `{"id", "input": null}`: bytes for the
 * standard input of an in-flight call (`vm.exec`), or its end. A method that
 * takes input acknowledges what it consumed in its events, and the client
 * keeps a bounded amount unacknowledged (the daemon never buffers much).
 */
export const inputEnvelopeSchema = lazySchema(() => z.strictObject({ id: requestIdSchema, input: z.string().nullable() }));
export type InputEnvelope = z.infer<typeof inputEnvelopeSchema>;

/**
 * `{"id", "control": {...}}`: a message to an in-flight call, checked by the
 * method's `control` schema (`vm.exec`: a terminal resize). One that does not
 * match, or for a call not in flight, is ignored (logged): the call goes on.
 */
export const controlEnvelopeSchema = lazySchema(() => z.strictObject({ id: requestIdSchema, control: z.unknown() }));
export type ControlEnvelope = z.infer<typeof controlEnvelopeSchema>;

/** Anything a client may send. */
export const clientEnvelopeSchema = lazySchema(() => z.union([cancelEnvelopeSchema, inputEnvelopeSchema, controlEnvelopeSchema, requestEnvelopeSchema]));
export type ClientEnvelope = z.infer<typeof clientEnvelopeSchema>;

/** The JSON form of @banger/errors' WireError (one schema, shared with the graph events). */
export const wireErrorSchema = WireErrorSchema;

/** Anything the daemon may send: progress events, then exactly one result or error. */
export const serverEnvelopeSchema = lazySchema(() => z.union([
  z.strictObject({ id: requestIdSchema, event: z.unknown() }),
  z.strictObject({ id: requestIdSchema, result: z.unknown() }),
  // id is null when the offending line's id could not be read.
  z.strictObject({ id: requestIdSchema.nullable(), error: wireErrorSchema }),
]));
export type ServerEnvelope = z.infer<typeof serverEnvelopeSchema>;
