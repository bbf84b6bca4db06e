import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { createHarness, type Harness } from './harness.js';

const BASH_COMPLETION = '/usr/share/bash-completion/bash_completion';
const haveBashCompletion = existsSync(BASH_COMPLETION);

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.dispose();
});
beforeEach(() => h.freshHome());
afterEach(() => h.killTracked());

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
