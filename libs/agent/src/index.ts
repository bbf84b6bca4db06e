export * from './protocol.js';
export { FrameDecoder, encodeHeader, type Frame } from './frames.js';
export { InChannel, OutChannel } from './channels.js';
export { Mux, MuxStream, type MuxOptions } from './mux.js';
export { AgentClient, type ConnectOptions, type ExecEnd, type RemoteProcess, type RunResult } from './client.js';
export { serveSession, bootUptimeSeconds, type OpHandler, type OpHandlers, type SessionOptions } from './session.js';
export { exitStatusOf, signalNumber } from './signals.js';
export * from './sessions-protocol.js';
export * from './sessions-client.js';
