import * as z from 'zod';

/**
 * One daemon method's contract: the zod schemas both sides validate with.
 * `event` describes the progress events a long operation streams before its
 * result; methods that stream nothing leave it out. `control` describes the
 * messages a client may send to a call in flight (`{"id","control"}`, e.g. a
 * terminal resize for `vm.exec --tty`); methods that take none leave it out.
 */
export interface MethodSpec<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType, E extends z.ZodType = z.ZodType, C extends z.ZodType = z.ZodType> {
  /** One line for docs and `--help`-style listings. */
  description: string;
  params: P;
  result: R;
  event: E;
  control: C;
}

/**
 * Declares a method. Group files in `methods/` call it once per method, keyed
 * by the wire name (`'vm.create': defineMethod(() => ({...}))`). The spec is
 * built on first use (see lazySchema): a CLI run touches two or three methods.
 */
export function defineMethod<P extends z.ZodType, R extends z.ZodType, E extends z.ZodType = z.ZodUnknown, C extends z.ZodType = z.ZodNever>(
  build: () => {
    description: string;
    params: P;
    result: R;
    event?: E;
    control?: C;
  },
): MethodSpec<P, R, E, C> {
  let spec: MethodSpec<P, R, E, C> | undefined;
  const get = (): MethodSpec<P, R, E, C> => {
    if (spec) return spec;
    const s = build();
    return (spec = { ...s, event: (s.event ?? z.unknown()) as E, control: (s.control ?? z.never()) as C });
  };
  return {
    get description() {
      return get().description;
    },
    get params() {
      return get().params;
    },
    get result() {
      return get().result;
    },
    get event() {
      return get().event;
    },
    get control() {
      return get().control;
    },
  };
}
