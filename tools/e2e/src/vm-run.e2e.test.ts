import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { loadArtifacts } from './artifacts.js';
import { TmuxTerminal, writeTerminalScript } from './helpers/tmux.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';
import { findVmRunImage } from './vm-run-image.js';

const BOOT_MS = 8 * 60_000;

/** One NDJSON line of `vm run --json`. */
type JsonLine = { type: string; [key: string]: unknown };
const ndjson = (stdout: string): JsonLine[] => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as JsonLine);

interface SyncResult {
  transferred: { files: number; bytes: number };
  deleted: string[];
  unchanged: boolean;
  via?: 'agent' | 'ssh';
  guestDir: string;
  mise?: { started: boolean; log: string; detail: string };
}
const syncResultOf = (lines: JsonLine[]): SyncResult => {
  const line = lines.find((l) => l.type === 'result' && l['method'] === 'vm.run');
  if (!line) throw new Error(`no vm.run result in ${JSON.stringify(lines.map((l) => l.type))}`);
  return (line['result'] as { sync: SyncResult }).sync;
};

/**
 * `banger vm run` in its command and workspace shapes through the real CLI
 * and bangerd, booting real Debian guests under QEMU inside the throwaway
 * netns of netns-run.sh. To keep boots few, one VM (`runner`, from the
 * vm-run-git image: debian-minimal + git) carries the command, workspace,
 * branch and mise assertions; `--rm` gets its own throwaway VMs.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('banger vm run (inside a throwaway netns)', () => {
  let home: BangerHome;
  let binDir: string;
  let kernelVersion: string;
  let gitImage: string | undefined;
  let scratch: string;
  let repo: string;
  // Debug logging: the daemon then logs every request it serves, which the RPC-counting test reads.
  const cli = (args: string[], timeoutMs = BOOT_MS): Promise<CliResult> => home.cli(args, { timeoutMs, env: { BANGER_LOG_LEVEL: 'debug' } });
  const daemonLog = (): string => (existsSync(join(home.stateDir, 'bangerd.log')) ? readFileSync(join(home.stateDir, 'bangerd.log'), 'utf8') : '');
  /** The methods the daemon served (or failed) in the log text given, in order. */
  const servedMethods = (log: string): string[] =>
    log
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { msg?: string; method?: string })
      .filter((entry) => (entry.msg === 'request served' || entry.msg === 'request failed') && typeof entry.method === 'string')
      .map((entry) => entry.method as string);
  const git = (...args: string[]) => run('git', ['-C', repo, ...args], { env: { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } });
  const vmNames = async (): Promise<string[]> => {
    const result = await cli(['vm', 'list', '--json'], 60_000);
    if (result.exitCode !== 0) throw new Error(`banger vm list failed (${result.exitCode}): ${result.stderr}`);
    return (JSON.parse(result.stdout) as Array<{ name: string }>).map((v) => v.name);
  };
  const runner = (args: string[], command: string[]): Promise<CliResult> => cli(['vm', 'run', ...args, '--name', 'runner', '--image', 'vm-run-git', '--', ...command]);
  const explain = (r: CliResult): string => `exit ${r.exitCode}\n--- stderr ---\n${r.stderr}\n--- console ---\n${home.consoleTail('runner', 20)}`;

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    kernelVersion = artifacts.kernelVersion;
    gitImage = await findVmRunImage();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'brun-');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    if (gitImage) await run('cp', ['-r', '--reflink=auto', '--sparse=always', gitImage, join(home.stateDir, 'images', 'vm-run-git')]);
    await home.writeConfig(['default_image_name = "debian-minimal"', 'hypervisor = "qemu"', '[vm_defaults]', 'vcpu = 1', 'memory_mib = 512', 'disk_size = "2G"', ''].join('\n'));

    // The workspace: two commits, then an untracked file, an ignored one and a mise config.
    scratch = mkdtempSync(join(tmpdir(), 'brun-repo-'));
    repo = join(scratch, 'proj');
    await run('git', ['init', '-q', '-b', 'main', repo]);
    writeFileSync(join(repo, '.gitignore'), '*.log\n');
    writeFileSync(join(repo, 'committed.txt'), 'first\n');
    writeFileSync(join(repo, 'doomed.txt'), 'delete me later\n');
    await git('add', '.');
    await git('commit', '-q', '-m', 'one');
    writeFileSync(join(repo, 'committed.txt'), 'second\n');
    await git('commit', '-q', '-am', 'two');
    writeFileSync(join(repo, 'untracked.txt'), 'not yet added\n');
    writeFileSync(join(repo, 'ignored.log'), 'never copied\n');
    writeFileSync(join(repo, '.mise.toml'), '[tools]\n');
  }, 120_000);

  afterAll(async () => {
    if (home) {
      for (const name of await vmNames().catch(() => [])) await cli(['vm', 'delete', name, '--force'], 120_000);
      await cli(['daemon', 'stop'], 60_000);
      home.remove();
    }
    if (binDir) rmSync(binDir, { recursive: true, force: true });
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('--rm -- uname -r prints the guest kernel version, exits 0 and deletes the VM; --timings says where the time went', async () => {
    const result = await cli(['vm', 'run', '--rm', '--timings', '--', 'uname', '-r']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${kernelVersion}\n`);
    expect(result.stderr.split('\n')[0]).toMatch(/^spec: /);
    expect(result.stderr).toMatch(/deleting vm \S+ \(--rm\)/);
    expect(await vmNames()).toEqual([]);
    // The table comes last, after the VM was handed over: the boot took real time, and --rm is a phase of its own.
    const timings = result.stderr.slice(result.stderr.indexOf('where the time went'));
    expect(result.stderr.indexOf('where the time went'), result.stderr).toBeGreaterThan(result.stderr.search(/deleting vm \S+ \(--rm\)/));
    expect(timings).toMatch(/^where the time went \(wall \d+(\.\d)? (ms|s)\)$/m);
    expect(timings).toMatch(/^\s+vm\.boot\s+\d+(\.\d)? (ms|s)\s+\d+(\.\d)? (ms|s)/m);
    expect(timings).toMatch(/^\s+vm\.wait-agent\s+\d/m);
    expect(timings).toMatch(/^\s+--rm: VM handed over\s+\d/m);
  });

  describe('on one reused VM', () => {
    it("passes the command's exit status through unchanged, creating the VM on first use", async () => {
      if (!gitImage) throw new Error('the vm-run-git image is not in the test cache: run the prepare step (tools/e2e/src/vm-run-image.ts prepareVmRunImage)');
      const result = await runner([], ['sh', '-c', 'exit 42']);
      expect(result.exitCode, explain(result)).toBe(42);
      expect(result.stderr.split('\n')[0]).toMatch(/^spec: /);
    });

    it('reuses the running VM and maps death by a signal to 128+n', async () => {
      const result = await runner([], ['sh', '-c', 'kill -9 $$']);
      expect(result.exitCode, explain(result)).toBe(137);
      expect(result.stderr).toMatch(/vm runner is running .*reusing it/);
      expect(result.stderr).not.toMatch(/^spec: /m);
    });

    it('keeps stdout and stderr separate and exact, and reports 127/126 as the guest shell does', async () => {
      const result = await runner([], ['sh', '-c', 'printf "out 1\\n\\n  out 2"; printf "err 1\\n" >&2']);
      expect(result.exitCode, explain(result)).toBe(0);
      expect(result.stdout).toBe('out 1\n\n  out 2');
      expect(result.stderr).toMatch(/^err 1$/m);
      expect(result.stderr).not.toContain('out 1');
      expect((await runner([], ['no-such-command-here'])).exitCode).toBe(127);
      expect((await runner([], ['/etc/hostname'])).exitCode).toBe(126);
    });

    it('runs the command through the guest agent (no ssh session), and over ssh with one warning line when the agent is down', async () => {
      const viaAgent = await runner([], ['sh', '-c', 'echo "ssh=${SSH_CONNECTION:-none} $(pwd) $USER"']);
      expect(viaAgent.exitCode, explain(viaAgent)).toBe(0);
      expect(viaAgent.stdout).toBe('ssh=none /root root\n');
      expect(viaAgent.stderr).not.toMatch(/over ssh/);

      // The agent stopped in the guest (systemd does not restart a stopped unit), and a new daemon that must find out.
      const stop = await cli(['vm', 'ssh', 'runner', '--', 'systemctl', 'stop', 'banger-agent'], 120_000);
      expect(stop.exitCode, stop.stderr).toBe(0);
      expect((await cli(['daemon', 'stop'], 60_000)).exitCode).toBe(0);
      const viaSsh = await runner([], ['sh', '-c', 'echo "ssh=${SSH_CONNECTION:+yes}"; exit 5']);
      expect(viaSsh.exitCode, explain(viaSsh)).toBe(5);
      expect(viaSsh.stdout).toBe('ssh=yes\n');
      expect(viaSsh.stderr.match(/^warning: the guest agent of runner .*; running the command over ssh$/gm), viaSsh.stderr).toHaveLength(1);

      // Back: the next run finds it again.
      const start = await cli(['vm', 'ssh', 'runner', '--', 'systemctl', 'start', 'banger-agent'], 120_000);
      expect(start.exitCode, start.stderr).toBe(0);
      // systemctl returns once node is spawned, not once the agent answers (seconds under a loaded TCG):
      // wait for it to answer, or vm run would rightly take ssh for its 3 s probe.
      for (let i = 0; i < 30 && (await cli(['vm', 'exec', 'runner', '--', 'true'], 60_000)).exitCode !== 0; i++) await new Promise((r) => setTimeout(r, 1_000));
      const again = await runner([], ['sh', '-c', 'echo "ssh=${SSH_CONNECTION:-none}"']);
      expect(again.exitCode, explain(again)).toBe(0);
      expect(again.stdout).toBe('ssh=none\n');
      expect(again.stderr).not.toMatch(/over ssh/);
    });

    it('copies committed and untracked files but not ignored ones, into a working repository, and runs there', async () => {
      const result = await runner([repo, '--json'], ['sh', '-c', 'pwd; ls -A | sort | tr "\\n" " "; echo; git status --porcelain; git rev-parse --abbrev-ref HEAD']);
      expect(result.exitCode, explain(result)).toBe(0);
      const lines = ndjson(result.stdout);
      const out = lines.filter((l) => l.type === 'output' && l['stream'] === 'stdout').map((l) => l['text']).join('');
      const [pwd, files, ...rest] = out.split('\n');
      expect(pwd).toBe('/root/proj');
      expect(files?.trim().split(' ')).toEqual(['.git', '.gitignore', '.mise.toml', 'committed.txt', 'doomed.txt', 'untracked.txt']);
      // git sees exactly what the host sees: the untracked files, nothing modified.
      expect(rest.filter(Boolean)).toEqual(['?? .mise.toml', '?? untracked.txt', 'main']);
      expect(lines.at(-1)).toEqual({ type: 'exit', vm: 'runner', status: 0 });
      const sync = syncResultOf(lines);
      expect(sync.unchanged).toBe(false);
      expect(sync.transferred.files).toBeGreaterThan(5);
      // The agent is up (the test before brought it back): the tar went through it, not over ssh.
      expect(sync.via).toBe('agent');
    });

    it('re-syncs only what changed: one edited file sent, one deleted file removed', async () => {
      writeFileSync(join(repo, 'untracked.txt'), 'edited on the host\n');
      unlinkSync(join(repo, 'doomed.txt'));
      const result = await runner([repo, '--json'], ['sh', '-c', 'cat untracked.txt; test -e doomed.txt && echo still-there || echo gone']);
      expect(result.exitCode, explain(result)).toBe(0);
      const lines = ndjson(result.stdout);
      const sync = syncResultOf(lines);
      expect(sync.transferred.files).toBe(1);
      expect(sync.deleted).toEqual(['doomed.txt']);
      const out = lines.filter((l) => l.type === 'output' && l['stream'] === 'stdout').map((l) => l['text']).join('');
      expect(out).toBe('edited on the host\ngone\n');

      const again = await runner([repo, '--json'], ['true']);
      expect(again.exitCode, explain(again)).toBe(0);
      expect(syncResultOf(ndjson(again.stdout))).toMatchObject({ unchanged: true, transferred: { files: 0, bytes: 0 }, deleted: [] });

      // A guest copy removed behind banger's back is noticed and copied again in full.
      expect((await runner([], ['rm', '-rf', '/root/proj'])).exitCode).toBe(0);
      const restored = await runner([repo, '--json'], ['test', '-f', 'committed.txt']);
      expect(restored.exitCode, explain(restored)).toBe(0);
      expect(syncResultOf(ndjson(restored.stdout)).transferred.files).toBeGreaterThan(5);
    });

    it('--explain prints every step of the run, VM and workspace, with run/skip and the reason, and changes nothing', async () => {
      writeFileSync(join(repo, 'explained.txt'), 'planned, not sent\n');
      try {
        const result = await cli(['vm', 'run', '--explain', repo, '--name', 'runner', '--image', 'vm-run-git'], 120_000);
        expect(result.exitCode, result.stderr).toBe(0);
        const steps = new Map(
          result.stdout
            .split('\n')
            .slice(1)
            .map((line) => /^\s+(run|skip)\s+(\S+)\s+.*?\s{2}(\S.*)$/.exec(line))
            .filter((m): m is RegExpExecArray => m !== null)
            .map((m) => [m[2], { action: m[1], reason: m[3] }]),
        );
        expect(result.stdout.split('\n')[0]).toBe('plan for vm:runner: 2 to run, 10 to skip');
        for (const id of ['vm.fetch-kernel', 'vm.fetch-image', 'vm.build-rootfs', 'vm.agent-unit', 'vm.runtime-disk', 'vm.sync-files', 'vm.create-tap', 'vm.boot', 'vm.wait-agent', 'vm.wait-ssh']) {
          expect(steps.get(id), id).toEqual({ action: 'skip', reason: 'satisfied' });
        }
        expect(steps.get('workspace.sync')).toEqual({ action: 'run', reason: 'not satisfied: 1 changed, 0 deleted' });
        expect(steps.get('vm.bootstrap-mise')).toEqual({ action: 'run', reason: 'dependency re-ran: workspace.sync' });
        // Nothing was sent: the guest copy does not have the new file.
        const guest = await runner([], ['test', '-e', '/root/proj/explained.txt']);
        expect(guest.exitCode, explain(guest)).toBe(1);
      } finally {
        unlinkSync(join(repo, 'explained.txt'));
      }
    });

    it('makes one streamed call to the daemon for the VM and the workspace (then one for the command, through the agent), and a second identical run skips the sync step', async () => {
      const execs = (): number => servedMethods(daemonLog()).filter((method) => method === 'vm.exec').length;
      const execsBefore = execs();
      const settle = await runner([repo], ['true']);
      expect(settle.exitCode, explain(settle)).toBe(0);
      // The daemon logs a call as served after its last frame went out: the CLI may have exited a moment before.
      await expect.poll(execs, { timeout: 10_000, interval: 50 }).toBe(execsBefore + 1);
      const before = daemonLog().length;
      const again = await runner([repo, '--json'], ['true']);
      expect(again.exitCode, explain(again)).toBe(0);
      expect(servedMethods(daemonLog().slice(before)).filter((method) => method !== 'hello')).toEqual(['vm.run', 'vm.exec']);
      const lines = ndjson(again.stdout);
      const planned = lines.find((l) => l.type === 'graph-planned') as { steps: Array<{ id: string; action: string; reason: string }> } | undefined;
      expect(planned?.steps.find((step) => step.id === 'workspace.sync')).toMatchObject({ action: 'skip', reason: 'satisfied' });
      expect(lines.find((l) => l.type === 'vm-selected')).toMatchObject({ vm: 'runner', how: 'reused' });
      expect(syncResultOf(lines)).toMatchObject({ unchanged: true, transferred: { files: 0, bytes: 0 } });
    });

    it('--branch feature --from HEAD~1 puts the guest copy on a new branch at that commit', async () => {
      const previous = (await git('rev-parse', 'HEAD~1')).stdout.trim();
      const result = await runner([repo, '--branch', 'feature', '--from', 'HEAD~1'], ['sh', '-c', 'git rev-parse --abbrev-ref HEAD; git rev-parse HEAD; cat committed.txt']);
      expect(result.exitCode, explain(result)).toBe(0);
      expect(result.stdout).toBe(`feature\n${previous}\nfirst\n`);
      expect(result.stderr).toMatch(/on branch feature \(from HEAD~1\)/);
    });

    it('goes on when the image has no mise: the bootstrap says so in its log and the command still runs', async () => {
      // vm-run-git has no mise (the golden image's real install is tested in vm-run-golden.e2e.test.ts).
      writeFileSync(join(repo, '.mise.toml'), '[tools]\n# touched\n');
      const result = await runner([repo], ['sh', '-c', 'cat /root/.cache/banger/vm-run-tooling-proj.log; echo ran']);
      expect(result.exitCode, explain(result)).toBe(0);
      expect(result.stdout).toMatch(/tooling bootstrap for \/root\/proj: starting/);
      expect(result.stdout).toMatch(/mise is not installed in this image/);
      expect(result.stdout).toMatch(/ran\n$/);
      expect(result.stderr).toMatch(/mise trust \+ mise install running in the background; log: \/root\/\.cache\/banger\/vm-run-tooling-proj\.log/);
    });

    it('drives an interactive session through a real pty: the prompt, a command, the window size and resize, the exit status', async () => {
      const socket = join(scratch, 'tmux.sock');
      const statusFile = join(scratch, 'session-status');
      const script = join(scratch, 'session.sh');
      writeTerminalScript(script, home.env(), `${JSON.stringify(process.execPath)} ${JSON.stringify(join(binDir, 'banger.cjs'))} vm run --name runner`, statusFile);
      const term = new TmuxTerminal(socket);
      await term.start(script);
      try {
        await term.waitFor(/root@runner:~#\s*$/m);
        await term.keys('echo hi-$((6*7))', 'Enter');
        await term.waitFor(/^hi-42$/m);
        await term.keys('stty size', 'Enter');
        await term.waitFor(/^40 120$/m);
        await term.resize(100, 30);
        await term.keys('clear; stty size', 'Enter');
        await term.waitFor(/^30 100$/m);
        await term.keys('exit 3', 'Enter');
        const deadline = Date.now() + 30_000;
        while (!existsSync(statusFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
        expect(existsSync(statusFile) ? readFileSync(statusFile, 'utf8') : `(no status file)\n${await term.screen()}`).toBe('EXIT=3\n');
        // Leaving the session leaves the VM running.
        expect(await vmNames()).toContain('runner');
      } finally {
        await term.kill();
      }
    });
  });

  it('--rm deletes the VM when Ctrl-C interrupts the command, which exits 130', async () => {
    const child = spawn(process.execPath, [join(binDir, 'banger.cjs'), 'vm', 'run', '--rm', '--name', 'interrupted', '--', 'sh', '-c', 'echo started; exec sleep 600'], {
      env: home.env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + BOOT_MS;
    while (!stdout.includes('started') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 250));
    expect(stdout, stderr).toBe('started\n');
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    // The daemon finishes the delete it was sent even if banger exited first.
    for (let i = 0; i < 60 && (await vmNames()).includes('interrupted'); i++) await new Promise((r) => setTimeout(r, 500));
    expect(await vmNames()).not.toContain('interrupted');
  });

  it('--rm returns once the daemon has the VM; a daemon killed -9 before removing it finishes the removal at its next start, and the name is free again', async () => {
    const pause = join(scratch, 'pause');
    await cli(['daemon', 'stop'], 60_000);
    writeFileSync(pause, 'vm.delete:background\n');
    const paused = (args: string[]) => home.cli(args, { timeoutMs: BOOT_MS, env: { BANGER_LOG_LEVEL: 'debug', BANGER_TEST_PAUSE_FILE: pause } });
    try {
      const result = await paused(['vm', 'run', '--rm', '--json', '--name', 'handed', '--', 'echo', 'ran']);
      expect(result.exitCode, result.stderr).toBe(0);
      const lines = ndjson(result.stdout);
      expect(lines.filter((l) => l.type === 'output').map((l) => l['text']).join('')).toBe('ran\n');
      expect(lines.at(-1)).toEqual({ type: 'vm-deleted', vm: 'handed', background: true });
      // Its QEMU (the process whose command line names the VM's directory) and the tap on that command line.
      const vmDir = home.vmDir('handed');
      const qemu = readdirSync('/proc')
        .filter((entry) => /^\d+$/.test(entry))
        .map((pid) => ({ pid: Number(pid), argv: (() => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { return []; } })() }))
        .find((p) => p.argv[0]?.includes('qemu') && p.argv.some((a) => a.includes(`${vmDir}/`)));
      expect(qemu, 'the VM\'s QEMU process').toBeDefined();
      const vm = { pid: qemu!.pid, tap: /ifname=([^,]+)/.exec(qemu!.argv.join(' '))?.[1] ?? 'no-tap-on-the-command-line' };
      // The CLI has exited, the daemon holds the removal (paused before it stops anything): the VM is gone for
      // the user but all its parts are still there — the state a daemon killed right now leaves.
      for (let i = 0; i < 100 && !existsSync(`${pause}.reached`); i++) await new Promise((r) => setTimeout(r, 100));
      expect(readFileSync(`${pause}.reached`, 'utf8')).toMatch(/^vm\.delete:background \d+$/m);
      expect(await paused(['vm', 'list', '--json']).then((r) => (JSON.parse(r.stdout) as Array<{ name: string }>).map((v) => v.name))).not.toContain('handed');
      expect(existsSync(home.vmDir('handed'))).toBe(true);
      expect(existsSync(`/proc/${vm.pid}`)).toBe(true);
      expect((await run('ip', ['link', 'show', 'dev', vm.tap], { allowFailure: true })).exitCode).toBe(0);
      process.kill(await home.daemonPid(), 'SIGKILL');
      unlinkSync(pause);

      // The next daemon (started by this command) finishes the removal at its start, before it serves the name again.
      const again = await cli(['vm', 'run', '--rm', '--name', 'handed', '--', 'echo', 'again']);
      expect(again.exitCode, again.stderr).toBe(0);
      expect(again.stdout).toBe('again\n');
      for (let i = 0; i < 100 && existsSync(home.vmDir('handed')); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(home.vmDir('handed'))).toBe(false);
      expect(existsSync(`/proc/${vm.pid}`) && readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').includes('qemu')).toBe(false);
      expect((await run('ip', ['link', 'show', 'dev', vm.tap], { allowFailure: true })).exitCode).not.toBe(0);
      expect(await vmNames()).not.toContain('handed');
      expect(daemonLog()).toMatch(/"removed":\["handed"\]/);
    } finally {
      if (existsSync(pause)) unlinkSync(pause);
      if (existsSync(`${pause}.reached`)) unlinkSync(`${pause}.reached`);
    }
  });

  it('runs a command through the agent of a guest whose sshd never answers; without a command, --rm keeps the VM with the hint to read its console', async () => {
    // An image whose sshd is masked: the boot finishes, ssh never answers.
    const nossh = join(scratch, 'nossh.ext4');
    await run('cp', ['--sparse=always', '--reflink=auto', join(home.stateDir, 'images', 'debian-minimal', 'rootfs.ext4'), nossh]);
    await run('debugfs', ['-w', '-R', 'symlink /etc/systemd/system/ssh.service /dev/null', nossh]);
    await run('debugfs', ['-w', '-R', 'symlink /etc/systemd/system/ssh.socket /dev/null', nossh]);
    const registered = await cli(['image', 'register', '--name', 'nossh', '--rootfs', nossh, '--kernel', 'debian-cloud'], 120_000);
    expect(registered.exitCode, registered.stderr).toBe(0);

    // A command goes through the guest agent: nothing waits for the sshd that never comes.
    const agentOnly = await cli(['vm', 'run', '--rm', '--name', 'agentonly', '--image', 'nossh', '--', 'echo', 'through the agent']);
    expect(agentOnly.exitCode, agentOnly.stderr).toBe(0);
    expect(agentOnly.stdout).toBe('through the agent\n');
    expect(agentOnly.stderr).toMatch(/\[vm\.wait-ssh\] \| not waited for: the guest agent is up and this run does not need ssh/);
    expect(await vmNames()).not.toContain('agentonly');

    // No command: the next thing is ssh, which is waited for, and never answers. Which of the two waits runs out
    // depends on how fast this host boots the guest to its agent (vm.wait-agent, or vm.wait-ssh after it).
    const result = await cli(['vm', 'run', '--rm', '--name', 'wedged', '--image', 'nossh', '--ssh-timeout', '30']);
    expect(result.exitCode, result.stderr).toBe(125);
    expect(result.stderr).toMatch(/^banger: vm wedged: (ssh did not answer|neither its agent nor ssh answered) within 30 s \(--ssh-timeout\)/m);
    expect(result.stderr).toMatch(/the VM wedged is kept despite --rm for inspection: banger vm logs wedged/);
    expect(await vmNames()).toContain('wedged');
    expect(existsSync(home.vmDir('wedged'))).toBe(true);
    expect((await cli(['vm', 'delete', 'wedged', '--force'], 120_000)).exitCode).toBe(0);
  });
});
