// banger-vsock-agent: the guest end of the host↔guest channel (docs/agent.md).
// It serves the agent protocol on the virtio-serial port (QEMU), on vsock
// through the static relay (Firecracker), or on a Unix socket (tests,
// tooling); it listens on no network socket.
import { formatError, isBangerError } from '@banger/errors';
import { AUTO_SERIAL_PORT, AUTO_VSOCK_PORT, parseAgentArgs, USAGE } from './args.js';
import { waitForChannel } from './channel.js';
import { listenUnix } from './listen-unix.js';
import { runKeeper } from './sessions/keeper.js';
import { serveSerial } from './serial.js';
import { serveVsock } from './vsock.js';
import { AGENT_VERSION } from './version.js';

async function main(): Promise<void> {
  // The session keeper is this same bundle, started by the agent under another name (docs/agent.md, "Sessions").
  if (process.argv[2] === 'session-keeper') {
    process.exit(await runKeeper(process.argv[3] ?? ''));
  }
  const { mode, quiet } = parseAgentArgs(process.argv.slice(2));
  const log = quiet ? () => undefined : (line: string) => process.stderr.write(`banger-vsock-agent: ${line}\n`);
  switch (mode.kind) {
    case 'version':
      process.stdout.write(`banger-vsock-agent ${AGENT_VERSION}\n`);
      return;
    case 'vsock':
      return serveVsock(mode, log);
    case 'auto': {
      // The guest unit's mode: whichever channel this VM's hypervisor offers.
      const channel = await waitForChannel(log, { serialPort: AUTO_SERIAL_PORT });
      log(`channel: ${channel}`);
      if (channel === 'serial') return serveSerial(AUTO_SERIAL_PORT, log);
      return serveVsock({ port: AUTO_VSOCK_PORT, relaySocket: mode.relaySocket, ...(mode.relayTestUnix ? { relayTestUnix: mode.relayTestUnix } : {}) }, log);
    }
    case 'unix':
      await listenUnix(mode.path, log);
      return;
    case 'serial':
      await serveSerial(mode.path, log);
      return;
  }
}

process.on('SIGPIPE', () => undefined);
main().catch((error: unknown) => {
  process.stderr.write(`${formatError(error, { program: 'banger-vsock-agent' })}\n`);
  if (isBangerError(error) && error.code === 'AGENT_USAGE') process.stderr.write(`${USAGE}\n`);
  process.exitCode = isBangerError(error) ? error.exitCode : 125;
});
