// The guest companion. banger reaches guests over ssh today (see docs/ssh.md);
// the host↔guest channel this agent will serve (virtio-serial `banger.agent`
// under QEMU, vsock port 1024 under Firecracker) is wired in the hypervisor
// drivers but nothing runs on the guest side yet, so this binary says so
// instead of pretending to work.
process.stderr.write(
  'banger-vsock-agent: not implemented yet; banger talks to guests over ssh (see docs/ARCHITECTURE.md)\n',
);
process.exitCode = 2;
