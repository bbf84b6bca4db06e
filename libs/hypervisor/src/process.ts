import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { HostCommandError } from '@banger/errors';
import { findExecutable, installHint, processAlive, processStartTime } from '@banger/host';
import type { VmStatus } from './driver.js';

// One home for reading /proc/<pid>/stat: the host toolkit. Re-exported so the VM layer keeps reaching it here.
export { processAlive, processStartTime, readProcStat } from '@banger/host';

/** Exit reasons of processes this daemon spawned, recorded by the child 'exit' event. */
const observedExits = new Map<string, VmStatus>();
const exitListeners = new Map<string, Set<(s: VmStatus) => void>>();
/** Exit promises of processes this daemon spawned and has not seen exit yet. */
const pendingExits = new Map<string, Promise<VmStatus>>();
const key = (pid: number, startTime: string) => `${pid}:${startTime}`;

/** Turns a Node exit (code, signal) into the reason the daemon records. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `killed by ${signal}`;
  return `exited with status ${code ?? 'unknown'}`;
}

/** The recorded exit of a process this daemon spawned, if it has exited. */
export function observedExit(pid: number, startTime: string): VmStatus | undefined {
  return observedExits.get(key(pid, startTime));
}

/** Status from /proc plus the observed exit reason when there is one. */
export function processStatus(pid: number, startTime: string): VmStatus {
  if (processAlive(pid, startTime)) return { state: 'running' };
  return observedExit(pid, startTime) ?? { state: 'stopped', reason: 'process gone' };
}

/**
 * The status once a process is gone, waiting (bounded) for the child 'exit'
 * event when this daemon spawned it: /proc can show the process gone a moment
 * before Node delivers its exit status, and "process gone" would lose it.
 */
export async function settledStatus(pid: number, startTime: string, waitMs = 2_000): Promise<VmStatus> {
  const pending = pendingExits.get(key(pid, startTime));
  if (pending && !processAlive(pid, startTime)) {
    await Promise.race([pending, sleep(waitMs, undefined, { ref: false })]);
  }
  return processStatus(pid, startTime);
}

/**
 * Calls onExit once when the process ends: immediately from the child's exit
 * event when this daemon spawned it, else by polling /proc every pollMs.
 */
export function watchProcess(pid: number, startTime: string, onExit: (s: VmStatus) => void, pollMs = 1000): () => void {
  let done = false;
  const fire = (s: VmStatus) => {
    if (done) return;
    done = true;
    cleanup();
    onExit(s);
  };
  const k = key(pid, startTime);
  const listeners = exitListeners.get(k) ?? new Set();
  exitListeners.set(k, listeners);
  listeners.add(fire);
  const timer = setInterval(() => {
    if (!processAlive(pid, startTime)) void settledStatus(pid, startTime).then(fire);
  }, pollMs);
  timer.unref();
  const cleanup = () => {
    clearInterval(timer);
    listeners.delete(fire);
  };
  if (!processAlive(pid, startTime)) void settledStatus(pid, startTime).then(fire);
  return () => {
    done = true;
    cleanup();
  };
}

export interface DetachedProcess {
  pid: number;
  startTime: string;
  /** Resolves when the process exits (only while this daemon lives). */
  exited: Promise<VmStatus>;
}

/**
 * Spawns a hypervisor so it outlives the daemon: detached into its own session
 * (setsid), stdin from /dev/null, stdout and stderr appended to files (never
 * pipes: a pipe to a dead daemon would SIGPIPE or block the VM). Our copies of
 * the file descriptors are closed right after the spawn.
 */
export async function spawnDetached(
  binary: string,
  args: readonly string[],
  io: { stdoutPath: string; stderrPath: string; cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<DetachedProcess> {
  const resolved = findExecutable(binary);
  if (!resolved) {
    throw new HostCommandError(binary, `${binary}: command not found`, { hint: installHint(binary) });
  }
  const out = openSync(io.stdoutPath, 'a', 0o600);
  const err = io.stderrPath === io.stdoutPath ? out : openSync(io.stderrPath, 'a', 0o600);
  try {
    const child = spawn(resolved, args, {
      detached: true,
      stdio: ['ignore', out, err],
      cwd: io.cwd,
      env: io.env ?? process.env,
    });
    const spawned = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid ?? -1));
      child.once('error', (e) =>
        reject(new HostCommandError(binary, `${resolved}: could not start: ${e.message}`, { cause: e })),
      );
    });
    const startTime = processStartTime(spawned) ?? '0';
    const exited = new Promise<VmStatus>((resolve) => {
      child.once('exit', (code, signal) => {
        const status: VmStatus = { state: 'stopped', reason: describeExit(code, signal) };
        const k = key(spawned, startTime);
        observedExits.set(k, status);
        pendingExits.delete(k);
        for (const l of exitListeners.get(k) ?? []) l(status);
        exitListeners.delete(k);
        resolve(status);
      });
    });
    pendingExits.set(key(spawned, startTime), exited);
    // The daemon must be able to exit while VMs run.
    child.unref();
    return { pid: spawned, startTime, exited };
  } finally {
    closeSync(out);
    if (err !== out) closeSync(err);
  }
}

/**
 * Sends `signal` to the process if it is still the same process, then waits
 * up to timeoutMs for it to end. Returns true when it is gone.
 */
export async function signalAndWait(pid: number, startTime: string, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  if (!processAlive(pid, startTime)) return true;
  try {
    process.kill(pid, signal);
  } catch {
    return !processAlive(pid, startTime);
  }
  return waitGone(pid, startTime, timeoutMs);
}

/** Polls until the process is gone or timeoutMs passed. */
export async function waitGone(pid: number, startTime: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid, startTime)) return true;
    await sleep(50);
  }
  return !processAlive(pid, startTime);
}

/** SIGKILL and wait (bounded) for the process to be reaped; used for cleanup paths. */
export async function killHard(pid: number, startTime: string): Promise<void> {
  await signalAndWait(pid, startTime, 'SIGKILL', 5_000);
}
