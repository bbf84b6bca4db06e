import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InternalError, UserError } from '@banger/errors';
import { QemuDriver, spawnDetached, type VmHandle } from '@banger/hypervisor';
import { describeIdentityFailure, guestState, identityFailure, templateToBlame, warmBootAction, warmFallbackWarning } from './warm-fallback.js';

describe('what vm.boot of a warm VM does with what it finds', () => {
  it('restores template copies, adopts a running VM, and never lets a restored guest without its identity through', () => {
    // [process alive, identity pending, disks are template copies] → action
    const table: Array<[boolean, boolean, boolean, string]> = [
      [false, false, true, 'restore'],
      [false, false, false, 'cold'],
      [true, false, false, 'adopt'],
      [true, false, true, 'adopt'],
      // Restored, then the run was interrupted before the identity: the guest is still the template.
      [true, true, false, 'identify'],
      // ... and it ended meanwhile: its disks were written by the template's guest, never booted as this VM.
      [false, true, false, 'abandoned'],
      [false, true, true, 'abandoned'],
    ];
    for (const [alive, identityPending, templateCopies, action] of table) {
      expect(warmBootAction({ alive, identityPending, templateCopies }), JSON.stringify({ alive, identityPending, templateCopies })).toBe(action);
    }
  });
});

describe('why a restored guest could not be given its identity, and whether the template is to blame', () => {
  const dirs: string[] = [];
  const children: number[] = [];
  afterEach(() => {
    for (const pid of children.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A real detached process standing in for the restored guest's QEMU (status comes from /proc and its exit). */
  const guestProcess = async (): Promise<VmHandle> => {
    const dir = mkdtempSync(join(tmpdir(), 'warm-fallback-'));
    dirs.push(dir);
    const proc = await spawnDetached('sleep', ['600'], { stdoutPath: join(dir, 'log'), stderrPath: join(dir, 'log') });
    children.push(proc.pid);
    return { kind: 'qemu', pid: proc.pid, startTime: proc.startTime, vmDir: dir };
  };
  const driver = new QemuDriver({ binary: 'qemu-system-x86_64', accel: 'tcg' });
  /** Until the daemon side has the child's exit status (bounded: a test, not a hang). */
  const exitSeen = async (handle: VmHandle): Promise<void> => {
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(50)) {
      const status = await driver.status(handle);
      if (status.state !== 'running' && status.reason !== 'process gone') return;
    }
  };
  const agentSilent = new InternalError('AGENT_HELLO_TIMEOUT', 'guest agent: no hello after 60000 ms');

  it('a guest that aborted after the restore: the template is to blame, and the line says how it ended', async () => {
    const handle = await guestProcess();
    process.kill(handle.pid, 'SIGABRT');
    // The link to its agent breaks first, then the exit is seen (on a loaded host Node may deliver it seconds later).
    await exitSeen(handle);
    const failure = identityFailure(new InternalError('AGENT_DISCONNECTED', 'agent channel: the connection closed'), await guestState(driver, handle));
    expect(failure).toEqual({ kind: 'died', exit: 'qemu killed by SIGABRT' });
    expect(templateToBlame(failure)).toBe(true);
    expect(describeIdentityFailure(failure)).toContain('qemu killed by SIGABRT');
  });

  it('a guest killed from outside (SIGKILL: the OOM killer, a user) says nothing against the template', async () => {
    const handle = await guestProcess();
    process.kill(handle.pid, 'SIGKILL');
    await exitSeen(handle);
    const failure = identityFailure(new UserError('VM_NOT_RUNNING', 'vm w is not running'), await guestState(driver, handle));
    expect(failure).toEqual({ kind: 'died', exit: 'qemu killed by SIGKILL' });
    expect(templateToBlame(failure)).toBe(false);
  });

  it('a guest that runs but whose agent never answers: the template is to blame', async () => {
    const handle = await guestProcess();
    const failure = identityFailure(agentSilent, await guestState(driver, handle));
    expect(failure.kind).toBe('silent');
    expect(templateToBlame(failure)).toBe(true);
    expect(describeIdentityFailure(failure)).toContain('no hello after 60000 ms');
  });

  it('an identity operation that failed with the guest answering (in the guest, or on the host) keeps the template', async () => {
    const handle = await guestProcess();
    const alive = await guestState(driver, handle);
    expect(alive).toEqual({ alive: true });
    const inGuest = identityFailure(new InternalError('WARM_IDENTITY_FAILED', 'vm w: the identity script failed in the restored guest: ip: RTNETLINK answers: Operation not permitted'), alive);
    const onHost = identityFailure(Object.assign(new Error("ENOENT: no such file or directory, open '/state/vms/w/ssh_host_ed25519_key'"), { code: 'ENOENT' }), alive);
    for (const failure of [inGuest, onHost]) {
      expect(failure.kind).toBe('failed');
      expect(templateToBlame(failure)).toBe(false);
    }
    expect(describeIdentityFailure(onHost)).toContain('ssh_host_ed25519_key');
  });

  it('the warning is one line that names the VM and the cause', () => {
    const failure = identityFailure(new InternalError('AGENT_PROTOCOL_ERROR', 'agent channel: bad frame\n  at frame 3'), { alive: true });
    const line = warmFallbackWarning('wf-a', describeIdentityFailure(failure));
    expect(line).not.toContain('\n');
    expect(line).toBe("warning: could not start vm wf-a from its warm template (the restored guest's agent did not answer: agent channel: bad frame); booting it cold");
  });
});
