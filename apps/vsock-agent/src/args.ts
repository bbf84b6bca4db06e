import { parseArgs } from 'node:util';
import { UserError } from '@banger/errors';

export type AgentMode = { kind: 'serial'; path: string } | { kind: 'unix'; path: string } | { kind: 'vsock'; port: number } | { kind: 'version' };

export const USAGE = `usage: banger-vsock-agent (--serial <char device> | --listen-unix <path> | --vsock-port <port>) [--quiet]
       banger-vsock-agent --version`;

/** The command line → what to serve. Exactly one channel. */
export function parseAgentArgs(argv: string[]): { mode: AgentMode; quiet: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        serial: { type: 'string' },
        'listen-unix': { type: 'string' },
        'vsock-port': { type: 'string' },
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
  const given = [values.serial, values['listen-unix'], values['vsock-port']].filter((v) => v !== undefined);
  if (given.length !== 1) throw new UserError('AGENT_USAGE', 'give exactly one of --serial, --listen-unix, --vsock-port');
  if (values.serial !== undefined) return { mode: { kind: 'serial', path: values.serial }, quiet };
  if (values['listen-unix'] !== undefined) return { mode: { kind: 'unix', path: values['listen-unix'] }, quiet };
  const port = Number(values['vsock-port']);
  if (!Number.isInteger(port) || port <= 0 || port > 0xffffffff) throw new UserError('AGENT_USAGE', `bad vsock port "${values['vsock-port']}"`);
  return { mode: { kind: 'vsock', port }, quiet };
}
