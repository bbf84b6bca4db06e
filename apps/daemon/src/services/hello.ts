import { PROTOCOL_VERSION } from '@banger/api';
import type { Service } from '../service.js';

/** `hello`: the version handshake every CLI connection starts with. */
export const helloService: Service = (ctx, server) => {
  server.handle('hello', (params) => {
    if (params.clientVersion !== ctx.version) {
      ctx.log.info({ clientVersion: params.clientVersion, daemonVersion: ctx.version }, 'client with a different version connected');
    }
    return { daemonVersion: ctx.version, protocolVersion: PROTOCOL_VERSION, pid: process.pid };
  });
};
