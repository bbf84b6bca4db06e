import type { HandlerResultOf } from '@banger/api';
import { loadConfig } from '@banger/config';
import { CancelledError } from '@banger/errors';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createVm,
  execInVm,
  backgroundRemovalsEnded,
  sparesStopped,
  setSpareGate,
  deleteVm,
  deleteVmInBackground,
  EXPIRY_SWEEP_MS,
  expireInterruptedCreations,
  findOrphans,
  INTERRUPTED_CREATE_EXPIRY_MS,
  removeOrphans,
  reconcileVms,
  restartVm,
  runVm,
  startVm,
  stopVm,
  suspendVm,
  streamLogLines,
  vmDetails,
  vmDirOf,
  vmInfo,
  vmRepository,
  untilSshdListens,
  vmSshCommand,
  VmWatcher,
  type VmCallIo,
  type VmEnv,
  type VmProgressEvent,
} from '@banger/vm';
import { runGraph } from '../../graph-runner.js';
import { guestDnsWarning } from '../dns.js';
import type { Service } from '../../service.js';
import { agentLinksOf } from './agent-links-of.js';
import { registerSessionHandlers } from './sessions.js';

/**
 * `vm.*`: the VM lifecycle. The domain logic lives in @banger/vm; this
 * service only builds the environment per call (re-reading config.toml for
 * `vm create`, so file_sync and vm_defaults edits apply without a daemon
 * restart), wires the graph runner and streams events. At registration —
 * i.e. at every daemon start — it reconciles the records with the host.
 */
export const vmService: Service = (ctx, server) => {
  const log = ctx.log.child({ service: 'vm' });
  const watcher = new VmWatcher(ctx.db, log);
  const agent = { links: agentLinksOf(ctx), runtime: agentRuntime(ctx.paths.stateDir) };
  // Spare disk copies wait for a quiet moment: not beside the command `vm run` sends right after its graph.
  setSpareGate((signal) => server.whenQuiet(500, 60_000, signal));
  const env = (fresh = false): VmEnv => ({
    db: ctx.db,
    paths: ctx.paths,
    config: fresh ? loadConfig(ctx.paths) : ctx.config,
    log,
    watcher,
    runGraph: (options) => runGraph(ctx, options),
    agent,
  });
  const io = (signal: AbortSignal, emit: (event: VmProgressEvent) => void): VmCallIo => ({
    signal,
    emit,
    runGraph: (options) => runGraph(ctx, options),
  });

  // Interrupted creations nobody resumed within interrupted_create_expiry go: at start (after the
  // reconcile, which marks dead hypervisors) and then periodically.
  const expire = (): Promise<unknown> =>
    Promise.resolve()
      .then(() => expireInterruptedCreations(env(true)))
      .catch((error: unknown) => log.error({ err: error }, 'expiring interrupted creations failed'));
  void reconcileVms(env())
    .then(
      (report) => log.info(report, 'reconciled VMs with the host'),
      (error: unknown) => log.error({ err: error }, 'reconciling VMs failed'),
    )
    .then(expire);
  const sweepMs = Math.min(EXPIRY_SWEEP_MS, ctx.config.interruptedCreateExpiryMs ?? INTERRUPTED_CREATE_EXPIRY_MS);
  setInterval(() => void expire(), sweepMs).unref();

  server.handle('vm.orphans', async (params) => {
    const runtimeDir = agent.runtime?.dir ?? join(ctx.paths.stateDir, 'runtime');
    const orphans = await findOrphans(env(), { runtimeDir });
    const removed = params?.fix ? await removeOrphans(env(), orphans) : [];
    if (removed.length > 0) log.info({ removed }, 'doctor --fix removed leftovers');
    return { orphans, removed };
  });

  server.handle('vm.create', async (params, { signal, emit }) => {
    const { explain, ...rest } = params;
    const result = await createVm(env(true), { ...rest, ...(explain ? { explain } : {}), stateDir: ctx.paths.stateDir }, io(signal, emit));
    // The plan summary is deeply readonly; the wire schema's type is its mutable twin.
    return result as HandlerResultOf<'vm.create'>;
  });
  server.handle('vm.start', async ({ name, explain }, { signal, emit }) => (await startVm(env(), name, io(signal, emit), explain ? { explain } : {})) as HandlerResultOf<'vm.start'>);
  server.handle('vm.run', async (params, { signal, emit }) => {
    const dnsWarning = params.explain ? undefined : guestDnsWarning(ctx);
    const result = await runVm(env(true), { ...params, stateDir: ctx.paths.stateDir }, io(signal, emit), dnsWarning ? { warnings: [dnsWarning] } : {});
    return result as HandlerResultOf<'vm.run'>;
  });
  server.handle('vm.stop', ({ name, force }) => stopVm(env(), name, { force: force ?? false }));
  server.handle('vm.suspend', ({ name }) => suspendVm(env(), name));
  server.handle('vm.restart', ({ name, force }, { signal, emit }) => restartVm(env(), name, { force: force ?? false }, io(signal, emit)));
  server.handle('vm.delete', ({ name, force, background }) => (background ? deleteVmInBackground(env(), name) : deleteVm(env(), name, { force: force ?? false })));
  server.handle('vm.list', () => vmRepository(ctx).list().map((vm) => vmInfo(vm, agent.links.status(vm))));
  server.handle('vm.show', ({ name }) => {
    const vm = vmRepository(ctx).get(name);
    return vmDetails(ctx, vm, agent.links.status(vm));
  });
  server.handle('vm.ssh', async ({ name, command, tty }, { signal }) => {
    // A `vm run -- cmd` answered through the agent may have returned before sshd listens.
    await untilSshdListens(env(), name, { signal });
    return vmSshCommand(env(), name, { ...(command ? { command } : {}), ...(tty !== undefined ? { tty } : {}) });
  });

  server.handle('vm.exec', ({ name, ...request }, { signal, emit, input, drained, onControl }) => execInVm(env(), name, request, { signal, emit, input, drained, onControl }));
  registerSessionHandlers(server, env);

  server.handle('vm.logs', async ({ name, follow, lines, daemon }, { signal, emit }) => {
    const vm = vmRepository(ctx).get(name);
    let count = 0;
    const onLine = (line: string): void => {
      count += 1;
      emit({ line });
    };
    const file = daemon ? ctx.paths.logFile : vmDirOf(ctx, vm.name).consoleLog;
    const graphs = new Set([`vm:${name}`, `vm-start:${name}`]);
    const filter = daemon
      ? (line: string): boolean => {
          try {
            const entry = JSON.parse(line) as { vm?: unknown; graph?: unknown };
            return entry.vm === name || (typeof entry.graph === 'string' && graphs.has(entry.graph));
          } catch {
            return false;
          }
        }
      : undefined;
    try {
      await streamLogLines(file, { signal, onLine, ...(follow ? { follow } : {}), ...(lines !== undefined ? { lines } : {}), ...(filter ? { filter } : {}) });
    } catch (error) {
      if (!(error instanceof CancelledError)) throw error;
    }
    return { lines: count };
  });

  // A removal `vm run --rm` handed over is finished before the daemon lets go of the database (else the next start does it).
  return async () => {
    await backgroundRemovalsEnded();
    await sparesStopped();
    watcher.close();
  };
};

/**
 * What the guest agent's runtime disk is built from: the node running this
 * daemon and the agent bundle installed beside the daemon's own bundle
 * (`make install` and the e2e harness put banger-vsock-agent.js,
 * banger-pty, banger-vsock-relay and banger-reseed next to bangerd.js). Run from source there is no bundle: VMs then boot without an
 * agent, with a warning.
 */
function agentRuntime(stateDir: string): { nodeBinary: string; agentBundle: string; ptyHelper: string; vsockRelay: string; reseedHelper: string; dir: string } | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const agentBundle = join(here, 'banger-vsock-agent.js');
  // The static helpers are installed beside it too; a missing one fails the runtime disk's build with its name.
  return existsSync(agentBundle)
    ? { nodeBinary: process.execPath, agentBundle, ptyHelper: join(here, 'banger-pty'), vsockRelay: join(here, 'banger-vsock-relay'), reseedHelper: join(here, 'banger-reseed'), dir: join(stateDir, 'runtime') }
    : undefined;
}
