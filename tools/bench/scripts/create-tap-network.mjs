// Times the host-network part of `vm.create-tap` (bridge, ip_forward, NAT, a new tap) for fresh taps
// in steady state (bridge and NAT already there), as the step runs it. Run it inside a throwaway
// netns, built libs first (npx nx run-many -t build):
//   tools/e2e/netns-run.sh node tools/bench/scripts/create-tap-network.mjs [taps=20]
// To count the processes it starts, under strace (the count includes node itself):
//   tools/e2e/netns-run.sh strace -f -qq -e trace=execve -o /tmp/x.strace node … ; grep -c execve( …
// BANGER_NETWORK=<another checkout>/libs/network/dist/index.js times that checkout's code; one without
// ensureVmNetwork (before issue 19's change) is timed with the step's old sequence of calls.
const network = await import(process.env['BANGER_NETWORK'] ?? '@banger/network');

if (!process.env['BANGER_NETNS']) {
  console.error('run me inside tools/e2e/netns-run.sh: I create bridges, taps and an nftables table');
  process.exit(2);
}
const taps = Number(process.argv[2] ?? 20);
const bridge = 'bgbench0';
const subnet = '172.16.200.0/24';
const ownerUid = process.getuid?.() ?? 0;
const ownerKey = network.tapOwnerKey('/tmp/banger-bench-home/vms');

async function createTapNetwork(tap) {
  if (network.ensureVmNetwork) return network.ensureVmNetwork({ bridge, subnet, tap, ownerUid, ownerKey });
  await network.ensureBridge({ name: bridge, subnet });
  await network.enableIpForward();
  await network.ensureNat({ subnet });
  await network.ensureTap({ name: tap, bridge, ownerUid, ownerKey });
}

// Steady state: the first VM of a host boot made the bridge and the NAT table.
await network.ensureBridge({ name: bridge, subnet });
await network.enableIpForward();
await network.ensureNat({ subnet });

const times = [];
for (let i = 0; i < taps; i++) {
  const tap = `bgr-bench${String(i).padStart(3, '0')}`;
  const start = process.hrtime.bigint();
  await createTapNetwork(tap);
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
  const link = await network.getLink(tap);
  if (link?.master !== bridge || link.ifalias !== `banger:${ownerKey}` || !network.isUp(link)) throw new Error(`tap ${tap} is not right: ${JSON.stringify(link)}`);
}
for (let i = 0; i < taps; i++) await network.removeTap(`bgr-bench${String(i).padStart(3, '0')}`);
await network.removeNat();
await network.removeBridge(bridge);

const sorted = [...times].sort((a, b) => a - b);
const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
console.log(JSON.stringify({ taps, medianMs: Number(median.toFixed(1)), minMs: Number(sorted[0].toFixed(1)), maxMs: Number(sorted.at(-1).toFixed(1)), ensureVmNetwork: Boolean(network.ensureVmNetwork) }));
