import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { prerequisites } from '@banger/host/testing';
import { useHarness } from './harness.js';

const BASH_COMPLETION = '/usr/share/bash-completion/bash_completion';
const inCi = process.env['CI'] === 'true' || process.env['CI'] === '1';
// CI installs bash-completion (see the Makefile's package lists): there a missing one fails, never skips.
const haveBashCompletion = existsSync(BASH_COMPLETION) || inCi;

const h = useHarness();

/**
 * Completes `line` the way bash does on TAB: Debian's bash-completion loaded,
 * the script from `banger completion bash` sourced, COMP_* set, then the
 * registered completion function called. Returns COMPREPLY.
 */
async function complete(line: string, options: { bashCompletion?: boolean } = {}): Promise<string[]> {
  const r = await completeRaw(line, options);
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** Like `complete`, with the shell's exit status and stderr; `bashCompletion: false` leaves Debian's bash-completion out. */
async function completeRaw(line: string, options: { bashCompletion?: boolean } = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const script = `
    ${options.bashCompletion === false ? '' : `source ${BASH_COMPLETION}`}
    source <(banger completion bash)
    COMP_LINE='${line.replace(/'/g, `'\\''`)}'
    COMP_POINT=\${#COMP_LINE}
    read -ra COMP_WORDS <<< "$COMP_LINE"
    [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
    fn=$(complete -p banger | sed -E 's/.*-F ([^ ]+).*/\\1/')
    "$fn" banger "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\\n' "\${COMPREPLY[@]}"
  `;
  const r = await execa('bash', ['--norc', '--noprofile', '-c', script], { env: h.env, extendEnv: false, reject: false, timeout: 30_000 });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Adds VM and image rows to the database the daemon created (the CLI never opens it itself). */
function insertNames(): void {
  const db = new Database(join(h.home, 'state', 'banger.db'));
  const vm = db.prepare(
    `INSERT INTO vms (id, name, state, image_name, kernel_name, hypervisor, vcpu, memory_mib, disk_bytes, spec, created_at, updated_at)
     VALUES (?, ?, 'running', 'debian-bookworm', 'k', 'qemu', 1, 512, 1, '{}', 0, 0)`,
  );
  vm.run('1', 'sandbox');
  vm.run('2', 'scratch');
  vm.run('3', 'api');
  db.prepare(`INSERT INTO images (name, version, dir, rootfs_path, size_bytes, sha256, source, created_at) VALUES ('debian-bookworm', '1', '/x', '/x/r', 1, 'h', '{}', 0)`).run();
  db.close();
}

async function startDaemon(): Promise<void> {
  const start = await h.banger(['daemon', 'status', '--json']);
  expect(start.exitCode, start.stderr).toBe(0);
  h.track((JSON.parse(start.stdout) as { pid: number }).pid);
}

describe.skipIf(!haveBashCompletion)('bash completion (needs the bash-completion package)', () => {
  beforeAll(() => {
    if (!existsSync(BASH_COMPLETION)) throw new Error(`missing test prerequisite: ${BASH_COMPLETION} (the bash-completion package)`);
  });

  it('lists the top-level subcommands and filters by prefix', async () => {
    expect(await complete('banger ')).toEqual(expect.arrayContaining(['completion', 'daemon', 'doctor', 'image', 'kernel', 'vm']));
    expect(await complete('banger ')).not.toContain('complete');
    expect(await complete('banger daemon st')).toEqual(['start', 'status', 'stop']);
    expect(await complete('banger daemon logs --')).toEqual(expect.arrayContaining(['--follow', '--lines', '--raw']));
    expect(await complete('banger completion ')).toEqual(['bash', 'fish', 'powershell', 'zsh']);
  });

  it('completes live VM and image names from a running daemon', async () => {
    await startDaemon();
    insertNames();
    expect(await complete('banger vm ssh ')).toEqual(['api', 'sandbox', 'scratch']);
    expect(await complete('banger vm ssh s')).toEqual(['sandbox', 'scratch']);
    expect(await complete('banger vm create --image ')).toEqual(['debian-bookworm']);
  });

  it('completes names to nothing with the daemon down, and does not start it', async () => {
    await startDaemon();
    insertNames();
    expect((await h.banger(['daemon', 'stop'])).exitCode).toBe(0);
    const logBefore = readFileSync(join(h.home, 'state', 'bangerd.log'), 'utf8');
    expect(await complete('banger vm ssh ')).toEqual([]);
    expect(await complete('banger vm ssh sa')).toEqual([]);
    expect(existsSync(join(h.home, 'run', 'bangerd.sock'))).toBe(false);
    // No daemon wrote a line since: none was started.
    expect(readFileSync(join(h.home, 'state', 'bangerd.log'), 'utf8')).toBe(logBefore);
  });

  it('never runs a command typed on the line: the words reach banger as arguments, not through eval', async () => {
    const marker = join(h.home, 'completion-ran-this');
    expect(await complete(`banger vm show $(touch ${marker}) `)).toEqual([]);
    expect(await complete(`banger vm show \`touch ${marker}\` `)).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it('prints nothing but the directive from the hidden entry point when the daemon is down', async () => {
    const r = await h.banger(['complete', '--', 'vm', 'ssh', '']);
    expect(r).toMatchObject({ exitCode: 0, stdout: ':4\n', stderr: '' });
  });
});

describe('the launcher answers TAB on its own (banger-complete.cjs)', () => {
  /** A copy of the installed tree holding only `files`, so a test can show which of them a completion needs. */
  function partialInstall(files: string[]): string {
    const dir = mkdtempSync(join(tmpdir(), 'banger-partial-'));
    for (const file of files) copyFileSync(join(h.lib, file), join(dir, file));
    return dir;
  }
  const lines = ['vm show ', 'vm ssh s', 'vm create --image ', 'daemon st', 'daemon logs --', 'completion ', '', 'vm run --', 'image ', 'vm session logs api '];
  const words = (line: string): string[] => [...line.split(' ')];
  const run = (dir: string, line: string, extraEnv: Record<string, string> = {}) =>
    execa(process.execPath, [join(dir, 'banger.cjs'), 'complete', '--', ...words(line)], { env: { ...h.env, ...extraEnv }, extendEnv: false, reject: false, timeout: 30_000 });

  it('lists live names with no CLI body installed beside it', async () => {
    await startDaemon();
    insertNames();
    const dir = partialInstall(['banger.cjs', 'banger-complete.cjs']);
    try {
      const r = await run(dir, 'vm show ');
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(String(r.stdout).split('\n')).toEqual(['api\tvm', 'sandbox\tvm', 'scratch\tvm', ':4']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints what the full CLI prints for the same words (an install without banger-complete.cjs)', async () => {
    await startDaemon();
    insertNames();
    const fast = partialInstall(['banger.cjs', 'banger-complete.cjs']);
    const full = partialInstall(['banger.cjs', 'banger-cli.cjs']);
    try {
      for (const line of lines) {
        const [a, b] = await Promise.all([run(fast, line), run(full, line)]);
        expect({ line, status: a.exitCode, out: String(a.stdout) }).toEqual({ line, status: b.exitCode, out: String(b.stdout) });
      }
    } finally {
      rmSync(fast, { recursive: true, force: true });
      rmSync(full, { recursive: true, force: true });
    }
  });

  it('takes no names from a daemon of another version, and leaves it running', async () => {
    await startDaemon();
    insertNames();
    const r = await h.banger(['complete', '--', 'vm', 'show', ''], { BANGER_VERSION_OVERRIDE: '9.9.9' });
    expect(r).toMatchObject({ exitCode: 0, stdout: ':4\n', stderr: '' });
    expect(JSON.parse((await h.banger(['daemon', 'status', '--json'])).stdout)).toMatchObject({ version: '0.1.0' });
  });
});

describe('bash completion without the bash-completion package', () => {
  it('completes from COMP_WORDS and prints no error on TAB', async () => {
    const r = await completeRaw('banger completion ', { bashCompletion: false });
    // (compopt's own complaint about being called outside a real TAB is the harness's, not the script's.)
    expect(r.stderr).not.toMatch(/command not found|_get_comp_words_by_ref/);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['bash', 'fish', 'powershell', 'zsh']);
    expect((await completeRaw('banger daemon st', { bashCompletion: false })).stdout.split('\n').filter(Boolean).sort()).toEqual(['start', 'status', 'stop']);
  });
});

describe('completion scripts', () => {
  it.each(['bash', 'zsh', 'fish', 'powershell'])('prints a %s script that calls banger complete', async (shell) => {
    const r = await h.banger(['completion', shell]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('banger complete');
  });

  it('explains how to load each script in its help', async () => {
    const r = await h.banger(['completion', '--help']);
    expect(r.stdout).toContain('/etc/bash_completion.d/banger');
    expect(r.stdout).toContain('~/.zfunc/_banger');
    expect(r.stdout).toContain('completions/banger.fish');
  });

  it('rejects an unknown shell on one line with exit 1', async () => {
    const r = await h.banger(['completion', 'tcsh']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^banger: .*tcsh.*\(hint: see banger completion --help\)\n$/);
  });
});

const shells = prerequisites(['zsh', 'fish']);

/** What fish offers on TAB after `line`: its own `complete -C`, with the script from `banger completion fish` loaded. */
async function fishComplete(line: string): Promise<string[]> {
  const r = await execa('fish', ['--no-config', '-c', `banger completion fish | source; complete -C ${fishQuote(line)}`], { env: h.env, extendEnv: false, reject: false, timeout: 30_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  return String(r.stdout).split('\n').filter(Boolean).map((l) => l.split('\t')[0]!).sort();
}
const fishQuote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * What an interactive zsh lists on TAB after `line`: a real `zsh -i` on a
 * pseudo-terminal (zsh/zpty), compinit, the script from `banger completion zsh`
 * sourced, then the line typed with a TAB. Returns the screen text it drew
 * once `until` appears on it (or after 20 s).
 */
async function zshListing(line: string, until: string): Promise<string> {
  const driver = `
    zmodload zsh/zpty
    zpty z 'zsh -f -i'
    zpty -w z 'PS1="> "; autoload -U compinit; compinit -u; source <(banger completion zsh); print READY'
    zpty -r z ready '*READY*'
    zpty -w -n z "$1"$'\\t'
    out=
    for i in {1..80}; do sleep 0.25; while zpty -r -t z chunk; do out+=$chunk; done; [[ $out == *"$2"* ]] && break; done
    zpty -d z
    print -r -- "$out"
  `;
  const r = await execa('zsh', ['-f', '-c', driver, 'driver', line, until], { env: h.env, extendEnv: false, reject: false, timeout: 60_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  // Drop the terminal's escape sequences; keep the words it drew.
  return String(r.stdout).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

describe.skipIf(shells.skip)(`zsh and fish completion in real shells${shells.skip ? ` (skipped: no ${shells.missing.join(', ')})` : ''}`, () => {
  beforeAll(() => shells.assert());

  it('completes subcommands in fish, and live VM names from a running daemon', async () => {
    expect(await fishComplete('banger daemon st')).toEqual(['start', 'status', 'stop']);
    await startDaemon();
    insertNames();
    expect(await fishComplete('banger vm ssh ')).toEqual(['api', 'sandbox', 'scratch']);
    expect(await fishComplete('banger vm ssh s')).toEqual(['sandbox', 'scratch']);
  });

  it('never runs a command substitution typed on a fish command line', async () => {
    const marker = join(h.home, 'fish-completion-ran-this');
    await fishComplete(`banger vm show (touch ${marker}) `);
    expect(existsSync(marker)).toBe(false);
  });

  it('lists subcommands and live VM names when TAB is pressed in an interactive zsh', async () => {
    const daemonCommands = await zshListing('banger daemon st', 'stop  ');
    for (const word of ['start', 'status', 'stop']) expect(daemonCommands).toMatch(new RegExp(`(^|\\n)${word}\\s+--`));
    await startDaemon();
    insertNames();
    const names = await zshListing('banger vm ssh ', 'scratch');
    for (const name of ['api', 'sandbox', 'scratch']) expect(names).toMatch(new RegExp(`\\b${name}\\b`));
  });
});
