import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifacts } from './artifacts.js';
import { TmuxTerminal, writeTerminalScript } from './helpers/tmux.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const BOOT_MS = 8 * 60_000;

interface AgentJson {
  state: 'up' | 'down';
  version?: string;
  pid?: number;
  reason?: string;
}

/**
 * The guest agent in a real guest (issue #17, slices 2–3): the runtime disk and
 * the unit bring `banger-vsock-agent` up in a debian-minimal guest under
 * QEMU/TCG, and `banger vm exec` runs commands through it. One VM serves
 * every test (they only read, except the last, which kills the agent and
 * checks it comes back). Inside the throwaway netns of tools/e2e/netns-run.sh.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('the guest agent in a real guest, and banger vm exec (inside a throwaway netns)', () => {
  let home: BangerHome;
  let binDir: string;
  const cli = (args: string[], timeoutMs = BOOT_MS): Promise<CliResult> => home.cli(args, { timeoutMs });
  const agentOf = async (): Promise<AgentJson | undefined> => {
    const shown = await cli(['vm', 'show', 'agent', '--json'], 60_000);
    expect(shown.exitCode, shown.stderr).toBe(0);
    return (JSON.parse(shown.stdout) as { agent?: AgentJson }).agent;
  };

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'bagent-');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    await home.writeConfig(['default_image_name = "debian-minimal"', 'hypervisor = "qemu"', '[vm_defaults]', 'vcpu = 2', 'memory_mib = 768', 'disk_size = "1G"', ''].join('\n'));
    const result = await cli(['vm', 'create', '--name', 'agent']);
    expect(result.exitCode, `vm create failed:\n${result.stderr}\n--- console ---\n${home.consoleTail('agent')}`).toBe(0);
  }, BOOT_MS);

  afterAll(async () => {
    if (!home) return;
    await cli(['vm', 'delete', 'agent', '--force'], 120_000);
    await cli(['daemon', 'stop'], 60_000);
    home.remove();
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  }, 180_000);

  it('starts the agent from the read-only runtime disk, early, and reports it up with its version', async () => {
    const agent = await agentOf();
    expect(agent, home.consoleTail('agent')).toMatchObject({ state: 'up', version: '0.1.0' });
    const listed = await cli(['vm', 'list', '--json'], 60_000);
    expect((JSON.parse(listed.stdout) as Array<{ name: string; agent?: AgentJson }>).find((v) => v.name === 'agent')?.agent).toMatchObject({ state: 'up', pid: agent?.pid });
    // The runtime disk is mounted read-only by label; the agent runs the shipped node through the shipped loader.
    const mounts = await cli(['vm', 'ssh', 'agent', '--', 'sh', '-c', 'grep " /run/banger/runtime " /proc/mounts; e2label $(awk \'$2 == "/run/banger/runtime" {print $1}\' /proc/mounts); tr "\\0" " " < /proc/$(systemctl show -p MainPID --value banger-agent)/cmdline'], 120_000);
    expect(mounts.exitCode, mounts.stderr).toBe(0);
    expect(mounts.stdout).toMatch(/^\/dev\/vd[a-z] \/run\/banger\/runtime ext4 ro[, ]/m);
    expect(mounts.stdout).toMatch(/^banger-runtime$/m);
    expect(mounts.stdout).toContain('/run/banger/runtime/lib/ld-linux.so --library-path /run/banger/runtime/lib /run/banger/runtime/bin/node /run/banger/runtime/agent/banger-vsock-agent.mjs --auto');
  });

  it('vm exec: stdout and stderr apart, the exit status passed through', async () => {
    const result = await cli(['vm', 'exec', 'agent', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'], 120_000);
    expect(result).toEqual({ exitCode: 7, stdout: 'out\n', stderr: 'err\n' });
    const env = await cli(['vm', 'exec', 'agent', '--env', 'GREETING=hi there', '--cwd', '/tmp', '--user', 'nobody', '--', 'sh', '-c', 'echo "$GREETING $(pwd) $(id -un)"'], 120_000);
    expect(env.exitCode, env.stderr).toBe(0);
    expect(env.stdout).toBe('hi there /tmp nobody\n');
  });

  it('vm exec: a command killed by a signal exits 128 + n; banger failures use their own codes', async () => {
    const killed = await cli(['vm', 'exec', 'agent', '--', 'sh', '-c', 'kill -TERM $$'], 120_000);
    expect(killed.exitCode, killed.stderr).toBe(143);
    const missing = await cli(['vm', 'exec', 'agent', '--', '/no/such/program'], 120_000);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toMatch(/no\/such\/program/);
    const noVm = await cli(['vm', 'exec', 'nosuchvm', '--', 'true'], 60_000);
    expect(noVm.exitCode).toBe(1);
    expect(noVm.stderr.trim().split('\n')).toHaveLength(1);
    const badEnv = await cli(['vm', 'exec', 'agent', '--env', 'NOEQUALS', '--', 'true'], 60_000);
    expect(badEnv.exitCode).not.toBe(0);
    expect(badEnv.stderr).toContain('"NOEQUALS" is not NAME=VALUE');
  });

  it('vm exec: 100 MiB of random bytes through cat come back identical', async () => {
    const data = randomBytes(100 * 1024 * 1024);
    const want = createHash('sha256').update(data).digest('hex');
    const started = Date.now();
    const got = await new Promise<{ code: number | null; hash: string; bytes: number; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [join(binDir, 'banger.cjs'), 'vm', 'exec', 'agent', '--', 'cat'], { env: home.env(), stdio: ['pipe', 'pipe', 'pipe'] });
      const hash = createHash('sha256');
      let bytes = 0;
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        hash.update(d);
        bytes += d.length;
      });
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.on('error', () => undefined);
      child.stdin.end(data);
      const timer = setTimeout(() => child.kill('SIGKILL'), 8 * 60_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, hash: hash.digest('hex'), bytes, stderr });
      });
    });
    console.log(`vm exec cat: 100 MiB in and back in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(got.code, got.stderr).toBe(0);
    expect(got.bytes).toBe(data.length);
    expect(got.hash).toBe(want);
  });

  it('vm exec: 50 concurrent commands all succeed', async () => {
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => cli(['vm', 'exec', 'agent', '--', 'sh', '-c', `echo ${i}`], 300_000)));
    console.log(`vm exec: 50 concurrent in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    results.forEach((result, i) => {
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toBe(`${i}\n`);
    });
  });

  it('vm exec --tty through tmux: a prompt, resize seen by stty size, Ctrl-C reaching the guest process, the terminal restored', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'bagent-tty-'));
    const socket = join(scratch, 'tmux.sock');
    const statusFile = join(scratch, 'status');
    const sttyFile = join(scratch, 'stty-after');
    const script = join(scratch, 'session.sh');
    const banger = `${JSON.stringify(process.execPath)} ${JSON.stringify(join(binDir, 'banger.cjs'))}`;
    // dash takes its prompt from PS1 in the environment.
    writeTerminalScript(script, home.env(), `${banger} vm exec --tty --env 'PS1=pty-prompt# ' agent -- sh`, statusFile, `stty -a > ${JSON.stringify(sttyFile)}\n`);
    const term = new TmuxTerminal(socket);
    await term.start(script);
    try {
      await term.waitFor(/pty-prompt#\s*$/m);
      await term.keys('tty; echo "hi-$((6*7)) $TERM"', 'Enter');
      await term.waitFor(/^hi-42 \S+$/m);
      expect(await term.screen()).toMatch(/^\/dev\/pts\/\d+$/m);
      await term.keys('stty size', 'Enter');
      await term.waitFor(/^40 120$/m);
      await term.resize(100, 30);
      await term.keys('clear; stty size', 'Enter');
      await term.waitFor(/^30 100$/m);
      // Ctrl-C is a byte for the guest's terminal: it kills the guest's sleep, not banger, and the shell sees 130
      // (an interactive shell drops the rest of an interrupted line, so the status is asked for on its own).
      await term.keys('clear; sleep 100', 'Enter');
      await sleep(2_000);
      await term.keys('C-c');
      await term.waitFor(/^\^C\s*\n.*pty-prompt#\s*$/m, 30_000);
      await term.keys('echo "rc=$?"', 'Enter');
      await term.waitFor(/^rc=130$/m, 30_000);
      await term.keys('exit 3', 'Enter');
      const deadline = Date.now() + 60_000;
      while (!existsSync(sttyFile) && Date.now() < deadline) await sleep(250);
      expect(existsSync(statusFile) ? readFileSync(statusFile, 'utf8') : `(no status file)\n${await term.screen()}`).toBe('EXIT=3\n');
      // The local terminal is back in cooked mode with echo (raw mode was undone).
      const after = readFileSync(sttyFile, 'utf8');
      expect(after).toMatch(/(^|\s)icanon(\s|$)/);
      expect(after).toMatch(/(^|\s)echo(\s|$)/);
      expect(after).toMatch(/(^|\s)isig(\s|$)/);
    } finally {
      await term.kill();
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('comes back after the agent is killed in the guest, and the next exec works', async () => {
    const before = await agentOf();
    const kill = await cli(['vm', 'ssh', 'agent', '--', 'pkill', '-f', 'banger-vsock-agent'], 120_000);
    expect(kill.exitCode, kill.stderr).toBe(0);
    const killedAt = Date.now();
    // systemd restarts it after RestartSec=1; the new agent announces itself on the port, the daemon drops the old connection, the next exec reconnects.
    let result: CliResult | undefined;
    for (let attempt = 0; attempt < 10; attempt += 1) {
      result = await cli(['vm', 'exec', 'agent', '--', 'sh', '-c', 'echo back'], 120_000);
      if (result.exitCode === 0) break;
      await sleep(2_000);
    }
    console.log(`agent back and exec answered ${((Date.now() - killedAt) / 1000).toFixed(1)} s after pkill`);
    expect(result?.exitCode, result?.stderr).toBe(0);
    expect(result?.stdout).toBe('back\n');
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    const after = await agentOf();
    expect(after).toMatchObject({ state: 'up' });
    expect(after?.pid).not.toBe(before?.pid);
  });

  it('ends a command that was running when the agent restarted, soon and with banger\'s own exit code, instead of waiting forever', async () => {
    const running = cli(['vm', 'exec', 'agent', '--', 'sh', '-c', 'echo started; sleep 300'], 120_000);
    // Started once its sleep is in the guest's process list.
    let seen = false;
    for (let attempt = 0; attempt < 30 && !seen; attempt += 1) {
      seen = (await cli(['vm', 'ssh', 'agent', '--', 'pgrep', '-fx', 'sleep 300'], 60_000)).exitCode === 0;
      if (!seen) await sleep(1_000);
    }
    expect(seen, 'the sleep never showed up in the guest').toBe(true);
    const kill = await cli(['vm', 'ssh', 'agent', '--', 'pkill', '-f', 'banger-vsock-agent'], 120_000);
    expect(kill.exitCode, kill.stderr).toBe(0);
    const killedAt = Date.now();
    // virtio-serial never tells the host the guest closed its port: only the restarted agent's announcement ends the wait.
    const result = await running;
    const tookMs = Date.now() - killedAt;
    console.log(`the running exec ended ${(tookMs / 1000).toFixed(1)} s after the agent was killed`);
    expect(result.stdout).toBe('started\n');
    expect(result.exitCode, result.stderr).toBe(125);
    expect(result.stderr).toMatch(/guest agent.*restarted/);
    expect(tookMs).toBeLessThan(30_000);
    // And the agent serves the next command.
    const next = await cli(['vm', 'exec', 'agent', '--', 'sh', '-c', 'echo next'], 120_000);
    expect(next).toEqual({ exitCode: 0, stdout: 'next\n', stderr: '' });
  });

  it('reconnects after the daemon restarts (the VM and its agent keep running)', async () => {
    const stopped = await cli(['daemon', 'stop'], 60_000);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    // The next command starts a new daemon, which adopts the VM and connects to its agent on first use.
    const result = await cli(['vm', 'exec', 'agent', '--', 'sh', '-c', 'echo again'], 120_000);
    expect(result).toEqual({ exitCode: 0, stdout: 'again\n', stderr: '' });
    expect(await agentOf()).toMatchObject({ state: 'up', version: '0.1.0' });
  });
});
