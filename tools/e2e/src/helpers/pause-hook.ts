import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BangerHome, CliResult } from './banger-cli.js';

/** A CLI run whose process the test can kill. */
export interface LiveCli {
  child: ChildProcess;
  done: Promise<CliResult>;
}

/** Starts the installed CLI without waiting for it (killed after `killAfterMs`, so a hang cannot outlive the test). */
export function startLiveCli(home: BangerHome, args: string[], env: NodeJS.ProcessEnv, killAfterMs: number): LiveCli {
  const child = spawn(process.execPath, [join(home.binDir, 'banger.cjs'), ...args], { env: home.env(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const done = new Promise<CliResult>((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? (signal ? 128 : -1), stdout, stderr });
    }),
  );
  return { child, done };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The daemon's test pause hook (`BANGER_TEST_PAUSE_FILE`): the file names the
 * point to stop at, the daemon writes `<point> <pid>` to `<file>.reached` when
 * it gets there, and waits until the file no longer names it.
 */
export function pauseHook(file: () => string, waitMs: number) {
  return {
    /** The variable every command needs: whichever command starts the next daemon passes it on. */
    env: (): NodeJS.ProcessEnv => ({ BANGER_TEST_PAUSE_FILE: file() }),
    pauseAt(point: string): void {
      writeFileSync(file(), `${point}\n`);
      rmSync(`${file()}.reached`, { force: true });
    },
    release(): void {
      writeFileSync(file(), '');
    },
    /** Waits until the daemon says it paused at `point`; returns the daemon's pid. Fails with the CLI's output (and `context()`) when it ended first. */
    async reached(point: string, live: LiveCli, context: () => string): Promise<number> {
      let ended: CliResult | undefined;
      void live.done.then((r) => (ended = r));
      const reachedFile = `${file()}.reached`;
      for (const deadline = Date.now() + waitMs; Date.now() < deadline; await sleep(100)) {
        const line = existsSync(reachedFile) ? readFileSync(reachedFile, 'utf8').split('\n').find((l) => l.startsWith(`${point} `)) : undefined;
        if (line) return Number(line.split(' ')[1]);
        if (ended) throw new Error(`the command ended (exit ${ended.exitCode}) before the daemon reached ${point}:\n${ended.stderr}\n--- console ---\n${context()}`);
      }
      throw new Error(`the daemon never reached ${point}`);
    },
  };
}
