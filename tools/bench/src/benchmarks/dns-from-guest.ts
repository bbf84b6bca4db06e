// Issue 16: name lookups from inside a real guest, through the daemon's DNS
// forwarder on the bridge, against the same lookups sent from the same guest
// straight to the upstream DNS server (through the host, as the forwarder's
// own queries go). The upstream is a real DNS server (startTestUpstream) on
// an address of the harness namespace (on a veth, 198.18.0.1: the
// benchmarking range, never a real network); the guest is a banger VM
// (debian-minimal, QEMU/TCG). Each run is one guest shell loop of
// `getent hosts <name>` — the guest's own resolver, as apt or git use it —
// under `unshare -m` with a resolv.conf bind-mounted for the side measured,
// so both sides pay the same process and mount costs. Uncached: every name
// new; cached: one name again and again.
//
// It boots a VM, so it only runs inside the netns harness:
//   npm run bench:vm -w tools/bench -- "DNS from a guest"
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestUpstream, type TestUpstream } from '@banger/dns/testing';
import { findExecutable, run } from '@banger/host';
import { openSshSession, type SshSession } from '@banger/ssh';
import { sshGuestExec } from '@banger/workspace';
import { defineBenchmark } from '../benchmark.js';
import { UPSTREAM_DELAY_MS } from '../fixtures/dns-upstream-delay.js';
import { logSetup } from '../fixtures/cache-dir.js';
import { buildCliBundles } from '../fixtures/cli-bundles.js';
import { loadVmArtifacts, vmArtifactsProblem } from '../fixtures/vm-artifacts.js';
import { BenchBangerHome, lastLine, type VmSizing } from '../fixtures/vm-banger-home.js';

const VM_NAME = 'bdns';
const SIZING: VmSizing = { vcpu: 2, memoryMib: 1024, diskBytes: 2 * 2 ** 30 };
const NETWORK = { bridge: 'banger0', subnet: '172.16.0.0/24' };
const BRIDGE_ADDRESS = '172.16.0.1';
const UPSTREAM = '198.18.0.1';
const UPSTREAM_LINK = 'bbdnsup0';
const LOOKUPS = 100;
const RUNS = 5;
/** Names the upstream knows: enough for every uncached run of both sides (warm-up included) to ask new ones. */
const NAMES = 2 * (RUNS + 1) * LOOKUPS + 10;

interface SharedVm {
  dir: string;
  home: BenchBangerHome;
  daemonPid: number;
  upstream: TestUpstream;
  session: SshSession;
}

let shared: Promise<SharedVm> | undefined;
let released = 0;

async function createVm(): Promise<SharedVm> {
  const dir = await mkdtemp(join(tmpdir(), 'bbdns-'));
  let home: BenchBangerHome | undefined;
  let daemonPid: number | undefined;
  let upstream: TestUpstream | undefined;
  try {
    // A veth pair with both ends here (not every kernel has the dummy driver): the address is simply local.
    await run('ip', ['link', 'add', UPSTREAM_LINK, 'type', 'veth', 'peer', 'name', `${UPSTREAM_LINK}p`]);
    await run('ip', ['addr', 'add', `${UPSTREAM}/32`, 'dev', UPSTREAM_LINK]);
    await run('ip', ['link', 'set', UPSTREAM_LINK, 'up']);
    await run('ip', ['link', 'set', `${UPSTREAM_LINK}p`, 'up']);
    const records: Record<string, string> = { 'mirror.test': UPSTREAM };
    for (let i = 0; i < NAMES; i++) records[`u${i}.mirror.test`] = UPSTREAM;
    upstream = await startTestUpstream({ host: UPSTREAM, port: 53, zone: 'mirror.test', records, ttl: 300, delayMs: UPSTREAM_DELAY_MS });
    const { banger } = await buildCliBundles(dir);
    home = new BenchBangerHome(banger, join(dir, 'home'));
    await home.seed(loadVmArtifacts(), SIZING, NETWORK, [`dns_upstreams = ["${UPSTREAM}"]`]);
    daemonPid = await home.startDaemon();
    const created = await home.cli(['vm', 'create', '--name', VM_NAME, '--json'], 10 * 60_000);
    if (created.exitCode !== 0) throw new Error(`banger vm create exited ${created.exitCode}: ${lastLine(created.stderr) || lastLine(created.stdout)}`);
    const shown = JSON.parse((await home.cli(['vm', 'show', VM_NAME, '--json'], 60_000)).stdout) as { ip?: string };
    if (!shown.ip) throw new Error(`banger vm show ${VM_NAME} has no ip`);
    const privateKey = await readFile(join(home.home, 'config', 'ssh', 'id_ed25519'), 'utf8');
    const hostKey = (await readFile(join(home.stateDir, 'vms', VM_NAME, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    const session = await openSshSession({ host: shown.ip, privateKey, hostKey });
    await guest(session, `printf 'nameserver ${BRIDGE_ADDRESS}\\n' > /root/via-forwarder.conf; printf 'nameserver ${UPSTREAM}\\n' > /root/direct.conf; getent hosts mirror.test`);
    logSetup(`VM ${VM_NAME} up at ${shown.ip}; upstream DNS ${UPSTREAM}:53 with ${NAMES} names; the daemon forwards to it`);
    return { dir, home, daemonPid, upstream, session };
  } catch (error) {
    if (home && daemonPid !== undefined) await home.shutdown(daemonPid).catch(() => undefined);
    await upstream?.close();
    await run('ip', ['link', 'del', UPSTREAM_LINK], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

const ROW_NAMES = [`DNS from a guest, uncached (${LOOKUPS} new names)`, `DNS from a guest, cached (${LOOKUPS} lookups of one name)`];
/** The VM goes when the last selected row of this file is done (main.ts's filters, re-read here). */
const selectedRows = (): number => {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  return ROW_NAMES.filter((n) => filters.length === 0 || filters.some((f) => n.includes(f))).length;
};

async function releaseVm(): Promise<void> {
  if (++released < selectedRows() || !shared) return;
  const vm = await shared.catch(() => undefined);
  shared = undefined;
  if (!vm) return;
  vm.session.close();
  try {
    await vm.home.shutdown(vm.daemonPid);
  } finally {
    await vm.upstream.close();
    await run('ip', ['link', 'del', UPSTREAM_LINK], { allowFailure: true });
    await rm(vm.dir, { recursive: true, force: true });
  }
}

async function guest(session: SshSession, command: string): Promise<string> {
  const result = await sshGuestExec(session)(command, {});
  if (result.exitCode !== 0) throw new Error(`guest command failed (${command.slice(0, 60)}): ${result.stderr.trim().split('\n').at(-1) ?? ''}`);
  return result.stdout;
}

/** One run: LOOKUPS lookups in the guest with `conf` as its resolv.conf; every lookup must answer. */
async function lookups(session: SshSession, conf: string, names: (i: number) => string): Promise<void> {
  const list = Array.from({ length: LOOKUPS }, (_, i) => names(i)).join(' ');
  const out = await guest(session, `unshare -m sh -c 'mount --bind /root/${conf} /etc/resolv.conf && miss=0; for n in ${list}; do getent hosts $n >/dev/null || miss=$((miss+1)); done; echo $miss'`);
  if (out.trim() !== '0') throw new Error(`${out.trim()} of ${LOOKUPS} lookups failed with ${conf}`);
}

interface Context {
  vm: SharedVm;
  next: number;
}

function fromGuest(cached: boolean) {
  return defineBenchmark<Context>({
    name: ROW_NAMES[cached ? 1 : 0]!,
    baseline: `the same \`getent hosts\` loop in the same guest with the upstream (${UPSTREAM}) as its nameserver`,
    runs: RUNS,
    skip: () => {
      if (!process.env['BANGER_NETNS']) return 'boots a VM: runs only inside the netns harness (../e2e/netns-run.sh node dist/main.mjs …)';
      for (const tool of ['qemu-system-x86_64', 'mkfs.ext4', 'debugfs', 'ip']) if (!findExecutable(tool)) return `${tool} is not installed`;
      return vmArtifactsProblem();
    },
    setup: async () => ({ vm: await (shared ??= createVm()), next: 0 }),
    banger: (ctx) => lookups(ctx.vm.session, 'via-forwarder.conf', cached ? () => 'mirror.test' : () => `u${ctx.next++}.mirror.test`),
    runBaseline: (ctx) => lookups(ctx.vm.session, 'direct.conf', cached ? () => 'mirror.test' : () => `u${ctx.next++}.mirror.test`),
    teardown: () => releaseVm(),
  });
}

export default [fromGuest(false), fromGuest(true)];
