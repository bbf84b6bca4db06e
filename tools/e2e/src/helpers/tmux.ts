import { writeFileSync } from 'node:fs';
import { run } from '@banger/host';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A real terminal for e2e tests: one tmux server on its own socket running
 * one session, read back with capture-pane. What a user sees is what the
 * tests assert (prompts, `stty size`, ^C).
 */
export class TmuxTerminal {
  constructor(
    readonly socket: string,
    readonly session = 'k',
  ) {}

  tmux(...args: string[]): ReturnType<typeof run> {
    return run('tmux', ['-S', this.socket, ...args], { allowFailure: true });
  }

  /** Starts `command` (a script path) in a detached session of cols × rows. */
  async start(command: string, size: { cols: number; rows: number } = { cols: 120, rows: 40 }): Promise<void> {
    await this.tmux('new-session', '-d', '-s', this.session, '-x', String(size.cols), '-y', String(size.rows), command);
  }

  /** The visible screen (capture-pane drops trailing blanks, so a prompt's final space is gone). */
  async screen(): Promise<string> {
    return (await this.tmux('capture-pane', '-p', '-t', this.session)).stdout;
  }

  /** Waits until the screen matches `what`; the error shows the screen. */
  async waitFor(what: RegExp, timeoutMs = 120_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await this.screen();
      if (what.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} on the screen:\n${text}`);
      await sleep(300);
    }
  }

  /** Types keys (tmux send-keys names: 'Enter', 'C-c', or text). */
  async keys(...keys: string[]): Promise<void> {
    await this.tmux('send-keys', '-t', this.session, ...keys);
  }

  async resize(cols: number, rows: number): Promise<void> {
    await this.tmux('resize-window', '-t', this.session, '-x', String(cols), '-y', String(rows));
  }

  async kill(): Promise<void> {
    await this.tmux('kill-server');
  }
}

/**
 * Writes a shell script for a TmuxTerminal: the banger environment of `env`
 * exported, `commandLine`, then `EXIT=<status>` written to `statusFile`,
 * `after` (more shell lines), and a pause so the pane stays readable.
 */
export function writeTerminalScript(path: string, env: NodeJS.ProcessEnv, commandLine: string, statusFile: string, after = ''): void {
  const exports = ['BANGER_HOME', 'PATH', 'HOME', 'NO_COLOR'].map((k) => `export ${k}=${JSON.stringify(env[k] ?? '')}`).join('\n');
  writeFileSync(path, `#!/bin/sh\n${exports}\n${commandLine}\necho "EXIT=$?" > ${JSON.stringify(statusFile)}\n${after}sleep 60\n`, { mode: 0o755 });
}
