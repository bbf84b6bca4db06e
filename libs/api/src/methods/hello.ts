import * as z from 'zod';
import { defineMethod } from '../method.js';

/** The handshake the CLI sends first on every connection. */
export const helloMethods = {
  hello: defineMethod(() => ({
    description: 'Version handshake: tells the daemon who is calling and learns its version.',
    params: z.object({
      clientVersion: z.string().min(1),
      protocolVersion: z.number().int().optional(),
    }),
    result: z.object({
      daemonVersion: z.string(),
      protocolVersion: z.number().int(),
      pid: z.number().int(),
    }),
  })),
};
