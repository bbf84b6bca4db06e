import { connect } from 'node:net';
import { LineSplitter, PROTOCOL_VERSION, type NameKind } from '@banger/api';
import { checkPrivateDir } from '@banger/host';

export interface LiveNamesTarget {
  socketPath: string;
  /** The socket's directory: refused when it is not ours (someone could serve fake names there). */
  runtimeDir: string;
  /** This CLI's version: names are taken only from a daemon of the same version and protocol. */
  version: string;
  /** The whole exchange's budget (BANGER_COMPLETE_TIMEOUT_MS, default 1000 ms). */
  budgetMs: number;
}

/** The longest reply line read: names of a few thousand resources fit many times over. */
const MAX_LINE_BYTES = 8 * 1024 * 1024;

/**
 * Live names for completion, from a daemon that already runs. This is not
 * ApiClient: a TAB must not pay for loading zod and the API's schemas, so it
 * writes `hello` and one `complete.names` per kind at once, as JSON lines, and
 * checks the two reply shapes it needs by hand (the daemon's own schemas are
 * exercised by the completion tests against a real daemon). With no daemon, a
 * slow or failing one, or one of another version, it returns what it has —
 * usually nothing: a completion never prints an error, hangs the shell, or
 * starts the daemon.
 */
export function fetchLiveNames(target: LiveNamesTarget, kinds: readonly NameKind[], scope: { vm?: string }): Promise<Map<NameKind, string[]>> {
  const names = new Map<NameKind, string[]>();
  const asked = new Map<number, NameKind>();
  kinds.forEach((kind) => {
    // A VM's sessions: only once the VM is on the line.
    if (kind !== 'session' || scope.vm !== undefined) asked.set(asked.size + 2, kind);
  });
  if (asked.size === 0) return Promise.resolve(names);
  try {
    checkPrivateDir(target.runtimeDir);
  } catch {
    return Promise.resolve(names);
  }
  return new Promise((resolve) => {
    const socket = connect(target.socketPath);
    let helloOk = false;
    const answered = new Map<NameKind, string[]>();
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      if (helloOk) for (const [kind, list] of answered) names.set(kind, list);
      resolve(names);
    };
    const timer = setTimeout(finish, target.budgetMs);
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', () => {
      const lines = [JSON.stringify({ id: 1, method: 'hello', params: { clientVersion: target.version, protocolVersion: PROTOCOL_VERSION } })];
      for (const [id, kind] of asked) lines.push(JSON.stringify({ id, method: 'complete.names', params: kind === 'session' ? { kind, vm: scope.vm } : { kind } }));
      socket.write(`${lines.join('\n')}\n`);
    });
    const splitter = new LineSplitter(MAX_LINE_BYTES);
    let replies = 0;
    socket.on('data', (chunk: Buffer) => {
      for (const item of splitter.push(chunk)) {
        if (item.kind === 'overflow') return finish();
        const reply = parseLine(item.line);
        if (reply?.id === 1) {
          const hello = reply.result as { daemonVersion?: unknown; protocolVersion?: unknown } | undefined;
          helloOk = hello?.daemonVersion === target.version && hello.protocolVersion === PROTOCOL_VERSION;
          if (!helloOk) return finish();
        } else if (reply && typeof reply.id === 'number' && asked.has(reply.id)) {
          const list = reply.result;
          if (Array.isArray(list) && list.every((name) => typeof name === 'string')) answered.set(asked.get(reply.id)!, list);
        } else continue; // an event or a reply to nothing we asked
        if (++replies === asked.size + 1) return finish();
      }
    });
  });
}

function parseLine(line: string): { id?: unknown; result?: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as { id?: unknown; result?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}
