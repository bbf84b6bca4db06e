#!/usr/bin/env node
// Stand-in for the firecracker binary: parses the same flags, serves the API
// double on --api-sock, prints "console" output to stdout after InstanceStart,
// and exits 0 on SendCtrlAltDel like a guest reboot with reboot=k.
// Test knobs come from the environment (the driver passes its own env through):
//   FC_DOUBLE_LOG      JSON lines: every request and answer
//   FC_DOUBLE_FAIL     "PUT /drives/rootfs": inject a 400 there
//   FC_DOUBLE_VERSION  what --version and GET /version report
//   FC_DOUBLE_IGNORE_CAD=1  ignore SendCtrlAltDel (guest without ctrl-alt-del handling)
import { appendFileSync } from 'node:fs';
import { createFirecrackerDouble } from './firecracker-double.mjs';

const argv = process.argv.slice(2);
const flag = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const version = process.env.FC_DOUBLE_VERSION ?? '1.16.1';
if (argv.includes('--version')) {
  process.stdout.write(`Firecracker v${version}\n\n`);
  process.exit(0);
}
const socketPath = flag('--api-sock') ?? '/run/firecracker.socket';
const instanceId = flag('--id');
if (instanceId !== undefined && !/^[A-Za-z0-9-]{1,64}$/.test(instanceId)) {
  process.stderr.write(`Invalid instance ID: ${instanceId}\n`);
  process.exit(153);
}
const log = (record) => process.env.FC_DOUBLE_LOG && appendFileSync(process.env.FC_DOUBLE_LOG, `${JSON.stringify(record)}\n`);
log({ argv });

const double = createFirecrackerDouble({
  socketPath,
  instanceId,
  version,
  failAt: process.env.FC_DOUBLE_FAIL,
  onRequest: log,
  // Like a kernel's first console lines: the command line it was given, so a test sees what reached the VMM.
  onStart: ({ bootArgs }) => process.stdout.write(`Kernel command line: ${bootArgs}\nWelcome to the double\n`),
  onRestore: ({ snapshotPath, drives }) => {
    process.stdout.write(`Restored from ${snapshotPath}\n`);
    log({ restored: { snapshotPath, drives } });
  },
  // Firecracker exits with status 1 after a failed snapshot load.
  onFatal: () => {
    process.stderr.write('Load snapshot error: the process cannot be used any more\n');
    process.exit(1);
  },
  onCtrlAltDel: () => {
    if (process.env.FC_DOUBLE_IGNORE_CAD === '1') return;
    setTimeout(() => process.exit(0), 100);
  },
});
double.listen().catch((e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
