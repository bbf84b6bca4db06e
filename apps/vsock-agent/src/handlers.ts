import type { OpHandlers } from '@banger/agent';
import { clockOp } from './ops/clock.js';
import { execOp } from './ops/exec.js';
import { factsOp } from './ops/facts.js';
import { getFileOp, putFileOp } from './ops/files.js';
import { sessionListOp, sessionLogsOp, sessionResizeOp, sessionRmOp, sessionSendOp, sessionSignalOp, sessionStartOp } from './ops/sessions.js';

/** Every operation the agent serves, by its `op`. */
export const handlers: OpHandlers = {
  exec: execOp,
  'put-file': putFileOp,
  'get-file': getFileOp,
  facts: factsOp,
  clock: clockOp,
  'session-start': sessionStartOp,
  'session-list': sessionListOp,
  'session-logs': sessionLogsOp,
  'session-send': sessionSendOp,
  'session-signal': sessionSignalOp,
  'session-rm': sessionRmOp,
  'session-resize': sessionResizeOp,
};
