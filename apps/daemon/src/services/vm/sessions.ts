import type { ApiServer } from '@banger/api';
import { listVmSessions, removeVmSession, resizeVmSession, startVmSession, stopVmSession, vmSessionLogs, vmSessionSend, type VmEnv } from '@banger/vm';

/** `vm.session.*`: long-lived sessions in a VM's guest, through its agent (@banger/vm does the work). */
export function registerSessionHandlers(server: ApiServer, env: () => VmEnv): void {
  server.handle('vm.session.start', ({ vm, ...request }, { signal }) => startVmSession(env(), vm, request, signal));
  server.handle('vm.session.list', ({ vm }, { signal }) => listVmSessions(env(), vm, signal));
  server.handle('vm.session.logs', ({ vm, name, tail, follow }, { signal, emit, drained }) =>
    vmSessionLogs(env(), vm, name, { ...(tail !== undefined ? { tail } : {}), ...(follow ? { follow } : {}) }, { signal, emit, drained }),
  );
  server.handle('vm.session.send', ({ vm, name }, { signal, emit, input }) => vmSessionSend(env(), vm, name, { signal, emit, input }));
  server.handle('vm.session.stop', ({ vm, name, signal: sig, timeoutMs }, { signal }) =>
    stopVmSession(env(), vm, name, { ...(sig ? { signal: sig } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) }, signal),
  );
  server.handle('vm.session.resize', ({ vm, name, rows, cols }) => resizeVmSession(env(), vm, name, rows, cols));
  server.handle('vm.session.rm', ({ vm, name }) => removeVmSession(env(), vm, name));
}
