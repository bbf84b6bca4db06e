import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const BOOT_MS = 8 * 60_000;

interface AgentJson {
  state: 'up' | 'down';
  version?: string;
  pid?: number;
  reason?: string;
}

/**
 * The guest agent in a real guest (issue #17, slice 2): the runtime disk and
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
    expect(mounts.stdout).toContain('/run/banger/runtime/lib/ld-linux.so --library-path /run/banger/runtime/lib /run/banger/runtime/bin/node /run/banger/runtime/agent/banger-vsock-agent.mjs --serial /dev/virtio-ports/banger.agent');
  });
});
