import type * as z from 'zod';
import type { MethodSpec } from '../method.js';
import { completeMethods } from './complete.js';
import { daemonMethods } from './daemon.js';
import { dnsMethods } from './dns.js';
import { helloMethods } from './hello.js';
import { imageMethods } from './image.js';
import { kernelMethods } from './kernel.js';
import { sessionMethods } from './session.js';
import { vmMethods } from './vm.js';

/**
 * Every method the daemon serves, by wire name. A new service adds one group
 * file next to this one and spreads it here; the client and server types
 * follow from this object.
 */
export const methods = {
  ...helloMethods,
  ...daemonMethods,
  ...dnsMethods,
  ...completeMethods,
  ...kernelMethods,
  ...imageMethods,
  ...vmMethods,
  ...sessionMethods,
} satisfies Record<string, MethodSpec>;

export type Methods = typeof methods;
export type MethodName = keyof Methods & string;
/** What a caller passes (before defaults/coercion). */
export type ParamsOf<M extends MethodName> = z.input<Methods[M]['params']>;
/** What a handler receives (after validation). */
export type ParsedParamsOf<M extends MethodName> = z.output<Methods[M]['params']>;
/** What a caller gets back. */
export type ResultOf<M extends MethodName> = z.output<Methods[M]['result']>;
/** What a handler returns (validated before it is sent). */
export type HandlerResultOf<M extends MethodName> = z.input<Methods[M]['result']>;
/** One progress event of a method. */
export type EventOf<M extends MethodName> = z.output<Methods[M]['event']>;
/** One control message a client sends to a call of the method in flight. */
export type ControlOf<M extends MethodName> = z.output<Methods[M]['control']>;

export const isMethodName = (name: string): name is MethodName => Object.hasOwn(methods, name);

export * from './complete.js';
export * from './daemon.js';
export * from './dns.js';
export * from './hello.js';
export * from './kernel.js';
export * from './image.js';
export * from './vm.js';
export * from './session.js';
export * from './workspace.js';
