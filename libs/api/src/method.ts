import * as z from 'zod';

/**
 * One daemon method's contract: the zod schemas both sides validate with.
 * `event` describes the progress events a long operation streams before its
 * result; methods that stream nothing leave it out.
 */
export interface MethodSpec<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType, E extends z.ZodType = z.ZodType> {
  /** One line for docs and `--help`-style listings. */
  description: string;
  params: P;
  result: R;
  event: E;
}

/**
 * Declares a method. Group files in `methods/` call it once per method, keyed
 * by the wire name (`'vm.create': defineMethod({...})`).
 */
export function defineMethod<P extends z.ZodType, R extends z.ZodType, E extends z.ZodType = z.ZodUnknown>(spec: {
  description: string;
  params: P;
  result: R;
  event?: E;
}): MethodSpec<P, R, E> {
  return { ...spec, event: (spec.event ?? z.unknown()) as E };
}
