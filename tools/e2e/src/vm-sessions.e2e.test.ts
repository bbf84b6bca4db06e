import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const BOOT_MS = 8 * 60_000;
const COUNTER = ['sh', '-c', 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done'];

interface SessionJson {
  vm: string;
  tty: boolean;
  name: string;
  state: 'running' | 'exited' | 'lost';
  code: number | null;
  signal: string | null;
  pid: number;
  outputBytes: number;
}

/** The lines are consecutive integers from the first on (no gap, no repeat). */
function expectConsecutive(text: string): number[] {
  const numbers = text.split('\n').filter(Boolean).map(Number);
  const firstGap = numbers.findIndex((n, i) => i > 0 && n !== numbers[i - 1]! + 1);
  expect(firstGap, `gap after ${numbers[firstGap - 1]}: ${numbers.slice(Math.max(0, firstGap - 2), firstGap + 2).join(',')}`).toBe(-1);
  return numbers;
}

/**
 * Long-lived sessions (issue #18) in a real debian-minimal guest under
 * QEMU/TCG: one VM for every test, in order (the counter session started
 * first is followed through a daemon kill -9 and an agent kill). Inside the
 * throwaway netns of tools/e2e/netns-run.sh.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('sessions in a real guest: they outlive the CLI, the daemon and the agent (inside a throwaway netns)', () => {
  let home: BangerHome;
  let binDir: string;
  const cli = (args: string[], timeoutMs = 120_000): Promise<CliResult> => home.cli(args, { timeoutMs });
  const sessions = async (vm = 'sess'): Promise<SessionJson[]> => {
    const r = await cli(['vm', 'session', 'list', vm, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { sessions: SessionJson[] }).sessions;
  };
  const session = async (name: string): Promise<SessionJson | undefined> => (await sessions()).find((s) => s.name === name);
  const oneLineError = (r: CliResult, mentions: string): void => {
    expect(r.exitCode, r.stderr).not.toBe(0);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toContain(mentions);
  };

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'bsess-');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    await home.writeConfig(['default_image_name = "debian-minimal"', 'hypervisor = "qemu"', '[vm_defaults]', 'vcpu = 2', 'memory_mib = 768', 'disk_size = "1G"', ''].join('\n'));
    const result = await cli(['vm', 'create', '--name', 'sess'], BOOT_MS);
    expect(result.exitCode, `vm create failed:\n${result.stderr}\n--- console ---\n${home.consoleTail('sess')}`).toBe(0);
  }, BOOT_MS);

  afterAll(async () => {
    if (!home) return;
    await cli(['vm', 'delete', 'sess', '--force']);
    await cli(['daemon', 'stop'], 60_000);
    home.remove();
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  }, 180_000);

  it('starts a counter that returns at once; list shows it running; logs -n 5 gives the last five lines', async () => {
    const started = await cli(['vm', 'session', 'start', 'sess', '--name', 'counter', '--', ...COUNTER]);
    expect(started, started.stderr).toMatchObject({ exitCode: 0, stdout: 'counter\n' });
    await sleep(1_500);
    const counter = await session('counter');
    expect(counter).toMatchObject({ vm: 'sess', state: 'running' });
    expect(counter!.pid).toBeGreaterThan(1);
    const table = await cli(['vm', 'session', 'list']);
    expect(table.stdout).toMatch(/^sess\s+counter\s+running\s+\d+\s+\S+\s+\S+.*sh -c i=0/m);
    const tail = await cli(['vm', 'session', 'logs', 'sess', 'counter', '-n', '5']);
    expect(tail.exitCode, tail.stderr).toBe(0);
    expect(tail.stdout.split('\n').filter(Boolean)).toHaveLength(5);
    expectConsecutive(tail.stdout);
  });

  it('keeps running through a kill -9 of the daemon, with no gap in its output', async () => {
    const before = await session('counter');
    process.kill(await home.daemonPid(), 'SIGKILL');
    await sleep(2_000);
    // The next command starts a new daemon, which connects to the agent again.
    const after = await session('counter');
    expect(after).toMatchObject({ state: 'running', pid: before!.pid });
    expect(after!.outputBytes).toBeGreaterThan(before!.outputBytes);
    const all = await cli(['vm', 'session', 'logs', 'sess', 'counter']);
    const numbers = expectConsecutive(all.stdout);
    expect(numbers[0]).toBe(0);
  });

  it('keeps running when the agent is killed in the guest (systemd restarts the agent, the keeper stays)', async () => {
    const before = await session('counter');
    const kill = await cli(['vm', 'ssh', 'sess', '--', 'pkill', '-9', '-f', 'banger-vsock-agent']);
    expect(kill.exitCode, kill.stderr).toBe(0);
    let after: SessionJson | undefined;
    for (let i = 0; i < 15 && !after; i++) {
      await sleep(2_000);
      const r = await cli(['vm', 'session', 'list', 'sess', '--json']);
      if (r.exitCode === 0) after = (JSON.parse(r.stdout) as { sessions: SessionJson[] }).sessions.find((s) => s.name === 'counter');
    }
    expect(after).toMatchObject({ state: 'running', pid: before!.pid });
    const numbers = expectConsecutive((await cli(['vm', 'session', 'logs', 'sess', 'counter'])).stdout);
    expect(numbers[0]).toBe(0);
  }, 120_000);

  it('completes session names after the VM, live from the guest, in bash, zsh and fish', async () => {
    // The completion scripts call `banger`: a launcher for the bundle on PATH.
    writeFileSync(join(binDir, 'banger'), `#!/bin/sh\nexec ${process.execPath} ${join(binDir, 'banger.cjs')} "$@"\n`, { mode: 0o755 });
    const env = home.env({ PATH: `${binDir}:${process.env['PATH']}`, BANGER_COMPLETE_TIMEOUT_MS: '5000' });
    const shell = (argv: string[]): Promise<string> =>
      new Promise((resolve) => {
        const child = spawn(argv[0]!, argv.slice(1), { env });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.once('close', () => {
          clearTimeout(timer);
          resolve(out);
        });
      });
    const bash = `
      source <(banger completion bash)
      COMP_LINE='banger vm session logs sess '
      COMP_WORDS=(banger vm session logs sess ''); COMP_CWORD=5
      fn=$(complete -p banger | sed -E 's/.*-F ([^ ]+).*/\\1/')
      "$fn" banger '' sess
      printf '%s\\n' "\${COMPREPLY[@]}"`;
    expect((await shell(['bash', '--norc', '--noprofile', '-c', bash])).split('\n').filter(Boolean)).toEqual(['counter']);
    // zsh: a real interactive zsh on a pty (zsh/zpty), the line typed with a TAB; the listing is what it draws.
    const zsh = `
      zmodload zsh/zpty
      zpty z 'zsh -f -i'
      zpty -w z 'PS1="> "; autoload -U compinit; compinit -u; source <(banger completion zsh); print READY'
      zpty -r z ready '*READY*'
      zpty -w -n z 'banger vm session stop sess '$'\\t'
      out=
      for i in {1..80}; do sleep 0.25; while zpty -r -t z chunk; do out+=$chunk; done; [[ $out == *counter* ]] && break; done
      zpty -d z
      print -r -- "$out"`;
    // One candidate: zsh inserts it on the line.
    expect((await shell(['zsh', '-f', '-c', zsh])).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')).toMatch(/banger vm session stop sess\s*counter/);
    // fish: its own `complete -C` with the script loaded; candidates come back as `name<TAB>description`.
    const fish = await shell(['fish', '--no-config', '-c', "banger completion fish | source; complete -C 'banger vm session attach sess '"]);
    expect(fish.split('\n').filter(Boolean).map((l) => l.split('\t')[0])).toEqual(['counter']);
  }, 120_000);

  it('stop sends SIGTERM and list shows the signal', async () => {
    const stopped = await cli(['vm', 'session', 'stop', 'sess', 'counter']);
    expect(stopped, stopped.stderr).toMatchObject({ exitCode: 0, stdout: 'sess/counter: killed by SIGTERM\n' });
    expect(await session('counter')).toMatchObject({ state: 'exited', signal: 'SIGTERM', code: null });
    expect((await cli(['vm', 'session', 'list', 'sess'])).stdout).toMatch(/^sess\s+counter\s+killed by SIGTERM/m);
  });

  it('a session that exits 3 shows "exited 3", its logs still work, rm removes it', async () => {
    expect((await cli(['vm', 'session', 'start', 'sess', '--name', 'three', '--', 'sh', '-c', 'echo done; exit 3'])).exitCode).toBe(0);
    for (let i = 0; i < 20 && (await session('three'))?.state === 'running'; i++) await sleep(500);
    expect(await session('three')).toMatchObject({ state: 'exited', code: 3 });
    expect((await cli(['vm', 'session', 'list', 'sess'])).stdout).toMatch(/^sess\s+three\s+exited 3/m);
    expect(await cli(['vm', 'session', 'logs', 'sess', 'three'])).toMatchObject({ exitCode: 0, stdout: 'done\n' });
    expect((await cli(['vm', 'session', 'rm', 'sess', 'three'])).exitCode).toBe(0);
    expect(await session('three')).toBeUndefined();
  });

  it('send and attach forward stdin; attach replays, follows, and ends with the session', async () => {
    const started = await cli(['vm', 'session', 'start', 'sess', '--', 'sh', '-c', 'while read l; do echo "got $l"; [ "$l" = quit ] && exit 4; done']);
    expect(started.exitCode, started.stderr).toBe(0);
    const name = started.stdout.trim();
    expect(name).toBe('sh-1');
    const send = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [join(binDir, 'banger.cjs'), 'vm', 'session', 'send', 'sess', name], { env: home.env(), stdio: ['pipe', 'ignore', 'inherit'] });
      child.stdin.end('one\n');
      child.once('close', resolve);
    });
    expect(send).toBe(0);
    // Attach (stdin not a terminal: streamed like send): replays "got one", forwards "quit", exits with the session's status.
    const attach = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [join(binDir, 'banger.cjs'), 'vm', 'session', 'attach', 'sess', name], { env: home.env(), stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      setTimeout(() => child.stdin.write('quit\n'), 2_000);
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
    expect(attach).toEqual({ code: 4, out: 'got one\ngot quit\n' });
  }, 120_000);

  it('bad input: one-line errors naming the culprit, nothing half-created', async () => {
    oneLineError(await cli(['vm', 'session', 'list', 'nosuchvm']), 'nosuchvm');
    oneLineError(await cli(['vm', 'session', 'start', 'nosuchvm', '--', 'true']), 'nosuchvm');
    oneLineError(await cli(['vm', 'session', 'logs', 'sess', 'ghost']), 'ghost');
    oneLineError(await cli(['vm', 'session', 'stop', 'sess', 'ghost']), 'ghost');
    oneLineError(await cli(['vm', 'session', 'start', 'sess', '--name', 'bad/name', '--', 'true']), 'bad/name');
    expect((await cli(['vm', 'session', 'start', 'sess', '--name', 'dup', '--', 'sleep', '600'])).exitCode).toBe(0);
    oneLineError(await cli(['vm', 'session', 'start', 'sess', '--name', 'dup', '--', 'true']), 'dup');
    oneLineError(await cli(['vm', 'session', 'rm', 'sess', 'dup']), 'dup');
    const missing = await cli(['vm', 'session', 'start', 'sess', '--name', 'missing', '--', '/no/such/program']);
    oneLineError(missing, '/no/such/program');
    expect(missing.exitCode).toBe(127);
    expect((await sessions()).map((s) => s.name)).not.toContain('missing');
    oneLineError(await cli(['vm', 'session', 'stop', 'sess', 'dup', '--signal', 'NOPE']), 'NOPE');
    expect((await cli(['vm', 'session', 'stop', 'sess', 'dup', '--signal', 'KILL'])).stdout).toBe('sess/dup: killed by SIGKILL\n');
  }, 180_000);

  it('a --tty bash through tmux: attach, type, resize, detach with Ctrl-P Ctrl-Q, re-attach and see it replayed', async () => {
    const started = await cli(['vm', 'session', 'start', 'sess', '--tty', '--name', 'shell', '--', 'bash', '--norc', '-i']);
    expect(started, started.stderr).toMatchObject({ exitCode: 0, stdout: 'shell\n' });
    const launcher = join(binDir, 'banger');
    writeFileSync(launcher, `#!/bin/sh\nexec ${process.execPath} ${join(binDir, 'banger.cjs')} "$@"\n`, { mode: 0o755 });
    // One tmux server per attach: a second `new-session` on the socket of a server that `kill-server`
    // is still shutting down can fail, and left an empty screen (seen once in CI).
    let socket = join(home.home, 'tmux-1.sock');
    const env = Object.entries(home.env({ TERM: 'xterm-256color' })).filter(([k]) => /^(BANGER_|PATH$|HOME$|NO_COLOR$)/.test(k)).map(([k, v]) => `${k}=${v}`);
    let tmuxErrors = '';
    const tmux = (...args: string[]): Promise<string> =>
      new Promise((resolve) => {
        const child = spawn('tmux', ['-S', socket, ...args], { env: { ...process.env, TERM: 'xterm-256color' } });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.once('close', (code) => {
          if (code !== 0 && args[0] !== 'kill-server') tmuxErrors = `tmux ${args[0]} exited ${code}: ${err.trim()}`;
          resolve(out);
        });
      });
    const screenHas = async (text: string, timeoutMs = 60_000): Promise<string> => {
      const deadline = Date.now() + timeoutMs;
      let screen = '';
      while (Date.now() < deadline) {
        screen = await tmux('capture-pane', '-p', '-t', 't');
        if (screen.includes(text)) return screen;
        await sleep(500);
      }
      throw new Error(`"${text}" not on the tmux screen (${tmuxErrors || 'tmux reported no error'}):\n${screen}`);
    };
    const attach = `env ${env.map((e) => `'${e}'`).join(' ')} ${launcher} vm session attach sess shell; echo ATTACH-ENDED $?; sleep 600`;
    try {
      await tmux('new-session', '-d', '-s', 't', '-x', '100', '-y', '30', attach);
      await screenHas('detach with Ctrl-P Ctrl-Q');
      await tmux('send-keys', '-t', 't', 'echo marker-$((6*7))', 'Enter');
      await screenHas('marker-42');
      await tmux('resize-window', '-t', 't', '-x', '120', '-y', '40');
      await sleep(1_000);
      await tmux('send-keys', '-t', 't', 'stty size', 'Enter');
      await screenHas('40 120');
      await tmux('send-keys', '-t', 't', 'C-p', 'C-q');
      await screenHas('ATTACH-ENDED 0');
      expect(await session('shell')).toMatchObject({ state: 'running', tty: true });
      // Re-attach: the earlier output is replayed.
      await tmux('kill-server');
      socket = join(home.home, 'tmux-2.sock');
      await tmux('new-session', '-d', '-s', 't', '-x', '120', '-y', '40', attach);
      const again = await screenHas('marker-42');
      expect(again).toContain('40 120');
      await tmux('send-keys', '-t', 't', 'exit 6', 'Enter');
      await screenHas('ATTACH-ENDED 6');
    } finally {
      await tmux('kill-server');
    }
    expect(await session('shell')).toMatchObject({ state: 'exited', code: 6 });
  }, 240_000);

  it('an agent that is down: a one-line error naming the VM; it keeps the sessions when it comes back', async () => {
    expect((await cli(['vm', 'session', 'start', 'sess', '--name', 'survivor', '--', 'sleep', '600'])).exitCode).toBe(0);
    expect((await cli(['vm', 'ssh', 'sess', '--', 'systemctl', 'stop', 'banger-agent'])).exitCode).toBe(0);
    const down = await cli(['vm', 'session', 'list', 'sess']);
    oneLineError(down, 'vm sess');
    expect((await cli(['vm', 'ssh', 'sess', '--', 'systemctl', 'start', 'banger-agent'])).exitCode).toBe(0);
    let back: SessionJson | undefined;
    for (let i = 0; i < 15 && !back; i++) {
      const r = await cli(['vm', 'session', 'list', 'sess', '--json']);
      if (r.exitCode === 0) back = (JSON.parse(r.stdout) as { sessions: SessionJson[] }).sessions.find((s) => s.name === 'survivor');
      else await sleep(2_000);
    }
    expect(back).toMatchObject({ state: 'running' });
  }, 180_000);

  it('a 1 GiB output flood keeps at most 16 MiB in the guest, and another session\'s attach is not slowed by it', async () => {
    const CAP = 16 * 2 ** 20;
    expect((await cli(['vm', 'session', 'start', 'sess', '--name', 'quiet', '--', 'sh', '-c', 'echo hello; exec sleep 3600'])).exitCode).toBe(0);
    /** Milliseconds from `attach` to the replayed "hello" on its stdout (what a user waits for), then the client is dropped. */
    const attachMs = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const child = spawn(process.execPath, [join(binDir, 'banger.cjs'), 'vm', 'session', 'attach', 'sess', 'quiet'], { env: home.env(), stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('hello')) {
            clearTimeout(timer);
            resolve(Date.now() - started);
            child.kill('SIGKILL');
          }
        });
        child.once('close', (code) => !out.includes('hello') && reject(new Error(`attach ended (${code}) without the replay: ${err}`)));
      });
    /** Bytes of the flood's output segments on the guest's disk, read by the guest itself. */
    const floodOnDisk = async (): Promise<number> => {
      const r = await cli(['vm', 'exec', 'sess', '--', 'sh', '-c', 'cat /run/banger/sessions/flood/out.* 2>/dev/null | wc -c']);
      expect(r.exitCode, r.stderr).toBe(0);
      return Number(r.stdout.trim());
    };
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

    const quietBefore: number[] = [];
    for (let i = 0; i < 3; i++) quietBefore.push(await attachMs());

    const started = Date.now();
    const flood = await cli(['vm', 'session', 'start', 'sess', '--name', 'flood', '--', 'head', '-c', '1073741824', '/dev/zero']);
    expect(flood.exitCode, flood.stderr).toBe(0);
    const quietDuring: number[] = [];
    let maxOnDisk = 0;
    while ((await session('flood'))?.state === 'running') {
      expect(Date.now() - started, 'the flood should end within 15 min').toBeLessThan(15 * 60_000);
      quietDuring.push(await attachMs());
      maxOnDisk = Math.max(maxOnDisk, await floodOnDisk());
    }
    const seconds = (Date.now() - started) / 1000;
    const done = await session('flood');
    const kept = (JSON.parse((await cli(['vm', 'session', 'list', 'sess', '--json'])).stdout) as { sessions: Array<{ name: string; keptBytes: number }> }).sessions.find((x) => x.name === 'flood')!.keptBytes;
    console.log(
      `1 GiB flood in the guest: ${seconds.toFixed(0)} s; flood output on the guest's disk at most ${(maxOnDisk / 2 ** 20).toFixed(1)} MiB over ${quietDuring.length} samples, ` +
        `${(kept / 2 ** 20).toFixed(1)} MiB at the end; attach to another session: median ${median(quietBefore)} ms before, ${median(quietDuring)} ms during (max ${Math.max(...quietDuring)} ms)`,
    );
    expect(done).toMatchObject({ state: 'exited', code: 0, outputBytes: 2 ** 30 });
    expect(kept).toBeLessThanOrEqual(CAP);
    expect(maxOnDisk).toBeLessThanOrEqual(CAP);
    expect(await floodOnDisk()).toBe(kept);
    expect(quietDuring.length, 'attach sampled while the flood ran').toBeGreaterThan(0);
    // "Not slowed": the flood may share the guest's CPUs, but attach stays within twice its quiet time plus 2 s.
    expect(median(quietDuring)).toBeLessThan(2 * median(quietBefore) + 2_000);
    for (const name of ['flood', 'quiet']) {
      if ((await session(name))?.state === 'running') await cli(['vm', 'session', 'stop', 'sess', name]);
      expect((await cli(['vm', 'session', 'rm', 'sess', name])).exitCode).toBe(0);
    }
  }, 20 * 60_000);

  it('vm run --session starts the command as a session in the existing VM and returns', async () => {
    const ran = await cli(['vm', 'run', '--name', 'sess', '--session', 'viarun', '--', 'sh', '-c', 'echo from-run; sleep 600'], 300_000);
    expect(ran.exitCode, ran.stderr).toBe(0);
    expect(ran.stdout).toBe('viarun\n');
    expect(ran.stderr).toContain('banger vm session attach sess viarun');
    expect(await session('viarun')).toMatchObject({ state: 'running' });
    for (let i = 0; i < 20 && (await cli(['vm', 'session', 'logs', 'sess', 'viarun'])).stdout === ''; i++) await sleep(500);
    expect((await cli(['vm', 'session', 'logs', 'sess', 'viarun'])).stdout).toBe('from-run\n');
    oneLineError(await cli(['vm', 'run', '--name', 'sess', '--session', 'x', '--rm', '--', 'true']), '--rm');
  }, 360_000);

  it('a stopped VM: its sessions ended with it, list says so, start is refused on one line', async () => {
    expect((await cli(['vm', 'stop', 'sess'], 180_000)).exitCode).toBe(0);
    const listed = await cli(['vm', 'session', 'list', 'sess']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stderr).toContain('vm sess is stopped: sessions end when their VM stops');
    oneLineError(await cli(['vm', 'session', 'start', 'sess', '--', 'true']), 'vm sess is not running');
  }, 240_000);
});
