import type { ParamsOf } from '@banger/api';
import { BangerError, CancelledError, ExitCode, NotFoundError } from '@banger/errors';
import type { CliContext } from '../../../context.js';
import { streamedCall } from '../../streamed-call.js';

/** What `vm run` asks for when it has to create the VM. */
export interface RunVmSpec {
  name?: string;
  image?: string;
  kernel?: string;
  vcpu?: number;
  memoryMib?: number;
  diskBytes?: number;
  /** How long to wait for the guest's sshd at boot (`--ssh-timeout`, enforced by the CLI); the daemon's default otherwise. */
  sshTimeoutMs?: number;
}

/** How `vm run` got its VM. */
export interface EnsuredVm {
  name: string;
  /** `created` (new or resumed), `started` (was stopped) or `reused` (was running). */
  how: 'created' | 'started' | 'reused';
}

/**
 * Makes sure the VM `vm run` works in is running: with `--name` of a running
 * VM it is reused as it is (creation flags are then ignored, with a notice),
 * a stopped one is started, an unfinished one resumed; otherwise a new VM is
 * created. `onName` is told the VM's name as soon as it is known — before the
 * creation finishes — so `--rm` can clean up after a failure or Ctrl-C.
 */
export async function ensureRunVm(ctx: CliContext, spec: RunVmSpec, options: { json: boolean; onName: (name: string) => void }): Promise<EnsuredVm> {
  const { client } = await ctx.daemon();
  if (spec.name !== undefined) {
    const existing = await client.call('vm.show', { name: spec.name }, { signal: ctx.signal }).catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
    if (existing && (existing.state === 'running' || existing.state === 'stopped')) {
      options.onName(existing.name);
      const ignored = (['image', 'kernel', 'vcpu', 'memoryMib', 'diskBytes'] as const).filter((key) => spec[key] !== undefined);
      if (ignored.length > 0 && !options.json) {
        ctx.err(`note: vm ${existing.name} already exists; ignoring ${ignored.map((key) => `--${key === 'memoryMib' ? 'memory' : key === 'diskBytes' ? 'disk' : key}`).join(', ')}`);
      }
      if (existing.state === 'running') {
        if (!options.json) ctx.err(`vm ${existing.name} is running (${existing.ip ?? 'no address'}, ${existing.vcpu} vCPU, ${existing.memoryMib} MiB): reusing it`);
        else ctx.out(JSON.stringify({ type: 'vm-reused', vm: existing.name }));
        return { name: existing.name, how: 'reused' };
      }
      await withSshDeadline(ctx, existing.name, spec.sshTimeoutMs, (streamOptions) =>
        streamedCall(ctx, 'vm.start', { name: existing.name }, { json: options.json }, { ...streamOptions, resultWithMethod: true }),
      );
      return { name: existing.name, how: 'started' };
    }
  }
  if (spec.name !== undefined) options.onName(spec.name);
  const params = {
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    ...(spec.image !== undefined ? { image: spec.image } : {}),
    ...(spec.kernel !== undefined ? { kernel: spec.kernel } : {}),
    ...(spec.vcpu !== undefined ? { vcpu: spec.vcpu } : {}),
    ...(spec.memoryMib !== undefined ? { memoryMib: spec.memoryMib } : {}),
    ...(spec.diskBytes !== undefined ? { diskBytes: spec.diskBytes } : {}),
  } as ParamsOf<'vm.create'>;
  const tap = (event: { graphId?: string }): void => {
    // The creation graph is `vm:<name>`: the first event names a generated VM.
    const match = /^vm:(.+)$/.exec(event.graphId ?? '');
    if (match?.[1]) options.onName(match[1]);
  };
  let named = spec.name;
  const result = await withSshDeadline(ctx, () => named ?? 'the new VM', spec.sshTimeoutMs, (streamOptions) =>
    streamedCall(ctx, 'vm.create', params, { json: options.json }, {
      signal: streamOptions.signal,
      resultWithMethod: true,
      tap: (event) => {
        tap(event);
        named = /^vm:(.+)$/.exec(event.graphId ?? '')?.[1] ?? named;
        streamOptions.tap(event);
      },
    }),
  );
  const name = result.vm?.name ?? spec.name;
  if (!name) throw new NotFoundError('VM_RUN_NO_VM', 'vm run: the daemon created no VM');
  options.onName(name);
  return { name, how: 'created' };
}

/**
 * `--ssh-timeout`, enforced here so it holds whatever the daemon's own wait:
 * once the `vm.wait-ssh` step starts, the call is cancelled after `timeoutMs`
 * (the daemon stops waiting; the VM keeps running, unfinished, for `vm
 * logs`) and the failure is reported as SSH_WAIT_TIMEOUT, exactly like the
 * daemon's own timeout, so `--rm` keeps the VM.
 */
async function withSshDeadline<T>(
  ctx: CliContext,
  name: string | (() => string),
  timeoutMs: number | undefined,
  call: (options: { signal: AbortSignal; tap: (event: { type: string; stepId?: string }) => void }) => Promise<T>,
): Promise<T> {
  const deadline = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const tap = (event: { type: string; stepId?: string }): void => {
    if (timeoutMs !== undefined && event.type === 'step-started' && event.stepId === 'vm.wait-ssh' && !timer) {
      timer = setTimeout(() => deadline.abort(), timeoutMs);
    }
  };
  try {
    return await call({ signal: AbortSignal.any([ctx.signal, deadline.signal]), tap });
  } catch (error) {
    if (deadline.signal.aborted && !ctx.signal.aborted && error instanceof CancelledError) {
      const vm = typeof name === 'function' ? name() : name;
      throw new BangerError('SSH_WAIT_TIMEOUT', `vm ${vm}: ssh did not answer within ${Math.round((timeoutMs ?? 0) / 1000)} s (--ssh-timeout)`, {
        hint: `see the guest console: banger vm logs ${vm}`,
        exitCode: ExitCode.internal,
        cause: error,
      });
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
