import type { ApiServer } from '@banger/api';
import type { DaemonContext } from './context.js';

/**
 * One service: registers the handlers of one method group. Add a file in
 * `services/` exporting one of these and list it in `services/index.ts`.
 * Returning a function gives the service a hook that runs at shutdown (after
 * in-flight calls ended, before the database closes).
 */
export type Service = (ctx: DaemonContext, server: ApiServer) => void | (() => void | Promise<void>);
