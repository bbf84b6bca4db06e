import { parseArgs } from 'node:util';
import { UserError } from '@banger/errors';

/** Where the agent listens for the vsock relay's connections by default: a root-only directory, so no other guest user reaches it. */
export const DEFAULT_RELAY_SOCKET = '/run/banger/agent-relay.sock';
/** What `--auto` serves: QEMU's virtio-serial port (AGENT_SERIAL_NAME in @banger/hypervisor)… */
export const AUTO_SERIAL_PORT = '/dev/virtio-ports/banger.agent';
/** …or Firecracker's vsock port (AGENT_VSOCK_PORT in @banger/hypervisor). */
export const AUTO_VSOCK_PORT = 1024;

/** How the vsock channel is served: the relay's port, the agent's own socket for it, and the relay's test mode. */
export interface VsockOptions {
  port: number;
  relaySocket: string;
  /** Test mode: the relay listens on this Unix socket instead of the vsock port (same relay code; hosts without vsock). */
  relayTestUnix?: string;
}

export type AgentMode =
  | { kind: 'serial'; path: string }
  | { kind: 'unix'; path: string }
  | ({ kind: 'vsock' } & VsockOptions)
  | ({ kind: 'auto' } & Omit<VsockOptions, 'port'>)
  | { kind: 'version' };

export const USAGE = `usage: banger-vsock-agent (--auto | --serial <char device> | --listen-unix <path> | --vsock-port <port>) [--relay-socket <path>] [--relay-test-unix <path>] [--quiet]
       banger-vsock-agent --version`;

/** The command line → what to serve. Exactly one channel. */
export function parseAgentArgs(argv: string[]): { mode: AgentMode; quiet: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        auto: { type: 'boolean' },
        serial: { type: 'string' },
        'listen-unix': { type: 'string' },
        'vsock-port': { type: 'string' },
        'relay-socket': { type: 'string' },
        'relay-test-unix': { type: 'string' },
        version: { type: 'boolean' },
        quiet: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UserError('AGENT_USAGE', `${(error as Error).message}`);
  }
  const quiet = values.quiet ?? false;
  if (values.version) return { mode: { kind: 'version' }, quiet };
  const given = [values.auto || undefined, values.serial, values['listen-unix'], values['vsock-port']].filter((v) => v !== undefined);
  if (given.length !== 1) throw new UserError('AGENT_USAGE', 'give exactly one of --auto, --serial, --listen-unix, --vsock-port');
  const relay = { relaySocket: values['relay-socket'] ?? DEFAULT_RELAY_SOCKET, ...(values['relay-test-unix'] !== undefined ? { relayTestUnix: values['relay-test-unix'] } : {}) };
  if (values.auto) return { mode: { kind: 'auto', ...relay }, quiet };
  if (values.serial !== undefined) return { mode: { kind: 'serial', path: values.serial }, quiet };
  if (values['listen-unix'] !== undefined) return { mode: { kind: 'unix', path: values['listen-unix'] }, quiet };
  const port = Number(values['vsock-port']);
  if (!Number.isInteger(port) || port <= 0 || port > 0x7fffffff) throw new UserError('AGENT_USAGE', `bad vsock port "${values['vsock-port']}"`);
  return { mode: { kind: 'vsock', port, ...relay }, quiet };
}
