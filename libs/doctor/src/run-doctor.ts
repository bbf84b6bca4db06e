import { currentHostFacts, resolveVmDefaults, type HostFacts } from '@banger/config';
import { bridgeSubnetCheck } from './checks/bridge.js';
import { buildCheck } from './checks/build.js';
import { daemonCheck } from './checks/daemon.js';
import { diskCheck } from './checks/disk.js';
import { dnsCheck } from './checks/dns.js';
import { guestDnsCheck } from './checks/guest-dns.js';
import { firstRunCheck } from './checks/first-run.js';
import { orphansCheck } from './checks/orphans.js';
import { firecrackerCheck } from './checks/firecracker.js';
import { hypervisorCheck, probeHypervisor } from './checks/hypervisor.js';
import { kvmCheck, probeKvm } from './checks/kvm.js';
import { qemuCheck } from './checks/qemu.js';
import { fileSyncCheck } from './checks/file-sync.js';
import { sshKeyCheck } from './checks/ssh-key.js';
import { sudoCheck } from './checks/sudo.js';
import { HOST_TOOLS, toolCheck } from './checks/tools.js';
import { tunCheck } from './checks/tun.js';
import { vmDefaultsCheck } from './checks/vm-defaults.js';
import { once, type CheckContext } from './context.js';
import { hostDoctorEnv, type DoctorEnv } from './env.js';
import type { DaemonProbe, DnsProbe, FirstRunProbe, OrphansProbe, DoctorCheck, DoctorCheckResult, DoctorReport, RunDoctorOptions } from './types.js';

/**
 * The doctor's checks for a config, paths and environment, in report order.
 * Exposed so callers (and tests) can inspect or run a subset.
 */
export function doctorChecks(options: {
  config: CheckContext['config'];
  paths: CheckContext['paths'];
  env?: Partial<DoctorEnv>;
  daemon?: DaemonProbe;
  dns?: DnsProbe;
  firstRun?: FirstRunProbe;
  orphans?: OrphansProbe;
  host?: HostFacts;
}): {
  checks: DoctorCheck[];
  context: CheckContext;
  host: () => HostFacts;
} {
  const host = onceSync(() => options.host ?? currentHostFacts(options.paths.stateDir));
  const env: DoctorEnv = { ...hostDoctorEnv(), ...options.env };
  const context: CheckContext = {
    config: options.config,
    paths: options.paths,
    env,
    kvm: once(() => probeKvm({ env, config: options.config })),
    hypervisor: once(() => probeHypervisor(context)),
  };
  const checks: DoctorCheck[] = [
    kvmCheck(context),
    firecrackerCheck(context),
    qemuCheck(context),
    hypervisorCheck(context),
    sudoCheck(context),
    ...HOST_TOOLS.map((tool) => toolCheck(context, tool)),
    buildCheck(context),
    tunCheck(context),
    bridgeSubnetCheck(context),
    diskCheck(context),
    sshKeyCheck(context),
    fileSyncCheck(context),
    vmDefaultsCheck(() => resolveVmDefaults(options.config, host()), host),
    ...(options.daemon ? [daemonCheck(context, options.daemon)] : []),
    ...(options.dns ? [dnsCheck(context, options.dns), guestDnsCheck(options.dns)] : []),
    ...(options.firstRun ? [firstRunCheck(context, options.firstRun)] : []),
    ...(options.orphans ? [orphansCheck(options.orphans)] : []),
  ];
  return { checks, context, host };
}

function onceSync<T>(fn: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: fn() }).v;
}

/**
 * Runs every host check concurrently and returns the report `banger doctor`
 * prints (or emits as `--json`). Never throws for a host problem: each one
 * becomes a check result, and `ok` is false when a required check failed.
 */
export async function runDoctor(options: RunDoctorOptions): Promise<DoctorReport> {
  const { checks, context, host: hostFacts } = doctorChecks(options);
  const results = await Promise.all(checks.map(runCheck));
  const host = hostFacts();
  return {
    ok: results.every((r) => !r.required || r.status !== 'fail'),
    checks: results,
    hypervisor: await context.hypervisor(),
    vmDefaults: resolveVmDefaults(options.config, host),
    host,
    configSource: options.config.source,
  };
}

async function runCheck(check: DoctorCheck): Promise<DoctorCheckResult> {
  const base = { id: check.id, title: check.title, required: check.required };
  try {
    const outcome = await check.run();
    return { ...base, status: outcome.status, detail: outcome.detail, ...(outcome.hint ? { hint: outcome.hint } : {}) };
  } catch (error) {
    // A check that blows up is itself a finding, never a doctor crash.
    return { ...base, status: 'fail', detail: `check crashed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
