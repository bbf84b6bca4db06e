import type { ApiClient, ResultOf } from '@banger/api';
import type { FirstRunProbe } from '@banger/doctor';
import { loadConfig, type BangerConfig } from '@banger/config';
import { ExitError } from '@banger/errors';
import type { CommandGroup } from '../command-group.js';
import type { CliContext } from '../../context.js';
import { probeDaemon } from '../../daemon-client/connect-daemon.js';
import { toJson } from '../../output/format.js';

/**
 * `banger doctor [--json] [--fix]`: checks the host in the CLI process. It
 * reports the daemon's health but never starts it (a doctor that changes what
 * it inspects would hide the problem) — except with `--fix`, which asks the
 * daemon (started if needed) to remove the leftovers it finds first (taps,
 * VM dirs and records, leases, hypervisor processes and runtime disks no VM
 * owns), prints what went, then checks. Exit 1 when a required check fails.
 */
export const doctorCommand: CommandGroup = (program, ctx) => {
  program
    .command('doctor')
    .description('check the host: KVM, hypervisors, host tools, disk, the daemon, .vm DNS; print the effective vm_defaults')
    .option('--json', 'print JSON')
    .option('--fix', 'first remove leaked or orphaned resources (starts the daemon if needed)')
    .action((options: { json?: boolean; fix?: boolean }) => doctor(ctx, options));
};

async function doctor(ctx: CliContext, options: { json?: boolean; fix?: boolean }): Promise<void> {
  const paths = ctx.paths();
  const config = loadConfig(paths);
  if (options.fix) {
    const { client } = await ctx.daemon();
    const { orphans, removed } = await client.call('vm.orphans', { fix: true }, { signal: ctx.signal, timeoutMs: 120_000 });
    if (!options.json) ctx.out(removed.length > 0 ? removed.join('\n') : `nothing to fix: ${orphans.length === 0 ? 'no leftovers' : 'see below'}`);
  }
  // Loaded on demand: only this command needs the host probes.
  const { runDoctor, formatDoctorReport } = await import('@banger/doctor');
  const report = await runDoctor({ config, paths, daemon: () => daemonHealth(ctx), dns: () => dnsFindings(ctx), firstRun: () => firstRunPlan(ctx, config), orphans: () => askRunningDaemon(ctx, async (client) => (await client.call('vm.orphans', {}, { signal: ctx.signal, timeoutMs: 30_000 })).orphans) });
  ctx.out(options.json ? toJson(report) : formatDoctorReport(report, { color: ctx.color }));
  if (!report.ok) throw new ExitError(1);
}

async function daemonHealth(ctx: CliContext): Promise<{ ok: boolean; detail: string }> {
  const paths = ctx.paths();
  try {
    const running = await probeDaemon(paths, ctx.version, 2_000);
    if (!running) return { ok: true, detail: `not running (it starts on the first command that needs it; socket ${paths.socketPath})` };
    running.client.close();
    const { daemonVersion, pid } = running.hello;
    if (daemonVersion !== ctx.version) {
      return { ok: true, detail: `running version ${daemonVersion} (pid ${pid}) but banger is ${ctx.version}; the next command replaces it` };
    }
    return { ok: true, detail: `running (pid ${pid}, version ${daemonVersion}, socket ${paths.socketPath})` };
  } catch (error) {
    return { ok: false, detail: `not answering on ${paths.socketPath}: ${(error as Error).message}` };
  }
}

/**
 * Runs `ask` against a daemon that is ALREADY running, or returns undefined
 * when none runs — never ctx.daemon(), which would start one: the doctor
 * reports on the daemon, it does not change it.
 */
async function askRunningDaemon<T>(ctx: CliContext, ask: (client: ApiClient) => Promise<T>): Promise<T | undefined> {
  const running = await probeDaemon(ctx.paths(), ctx.version, 2_000);
  if (!running) return undefined;
  try {
    return await ask(running.client);
  } finally {
    running.client.close();
  }
}

/** What the `.vm` DNS check needs: `dns.status` and a VM with an address, a running one first. */
function dnsFindings(ctx: CliContext): Promise<{ vm?: { name: string; ip: string }; status: ResultOf<'dns.status'> } | undefined> {
  return askRunningDaemon(ctx, async (client) => {
    const status = await client.call('dns.status', {}, { signal: ctx.signal, timeoutMs: 5_000 });
    const vms = await client.call('vm.list', {}, { signal: ctx.signal, timeoutMs: 5_000 });
    // Stopped VMs keep their lease and their record, so they will do when none runs.
    const vm = vms.find((v) => v.state === 'running' && v.ip) ?? vms.find((v) => v.ip);
    return { status, ...(vm?.ip ? { vm: { name: vm.name, ip: vm.ip } } : {}) };
  });
}

/** Where the first `vm run` gets its default image and kernel: installed, a published bundle, or a recipe build. */
function firstRunPlan(ctx: CliContext, config: BangerConfig): ReturnType<FirstRunProbe> {
  return askRunningDaemon(ctx, async (client) => {
    const call = { signal: ctx.signal, timeoutMs: 30_000 };
    const images = await client.call('image.catalog', {}, call);
    const kernels = await client.call('kernel.catalog', {}, call);
    const installedImages = new Set((await client.call('image.list', {}, call)).map((i) => i.name));
    const installedKernels = new Set((await client.call('kernel.list', {}, call)).map((k) => k.name));
    const resource = (name: string, installed: Set<string>, entry: { bundle?: unknown; oci?: string; recipe?: unknown } | undefined) => ({
      name,
      installed: installed.has(name),
      source: entry?.bundle || entry?.oci ? ('bundle' as const) : entry?.recipe ? ('recipe' as const) : ('none' as const),
      ...(entry?.oci ? { reference: entry.oci } : {}),
    });
    return {
      image: resource(config.defaultImageName, installedImages, images.entries.find((e) => e.name === config.defaultImageName)),
      kernel: resource(config.defaultKernelName, installedKernels, kernels.entries.find((e) => e.name === config.defaultKernelName)),
    };
  });
}
