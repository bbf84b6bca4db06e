import { createConnection, type Socket } from 'node:net';
import { InternalError } from '@banger/errors';

/**
 * A minimal QMP client: one connection, one command in flight, asynchronous
 * events skipped. Enough for status and graceful shutdown.
 */
export class QmpClient {
  private buffer = '';
  private waiters: Array<(msg: Record<string, unknown>) => void> = [];
  private queued: Array<Record<string, unknown>> = [];
  private closedError: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly path: string,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if ('event' in msg) continue;
        const waiter = this.waiters.shift();
        if (waiter) waiter(msg);
        else this.queued.push(msg);
      }
    });
    const onGone = (e?: Error) => {
      this.closedError = e ?? new Error('connection closed');
      for (const w of this.waiters.splice(0)) w({ error: { class: 'Closed', desc: this.closedError.message } });
    };
    socket.on('error', onGone);
    socket.on('close', () => onGone());
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  static async connect(path: string, timeoutMs = 5_000): Promise<QmpClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(path);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new InternalError('QMP_TIMEOUT', `QMP ${path}: no connection after ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    const client = new QmpClient(socket, path);
    await client.next(timeoutMs); // greeting
    await client.execute('qmp_capabilities', undefined, timeoutMs);
    return client;
  }

  private next(timeoutMs: number): Promise<Record<string, unknown>> {
    const early = this.queued.shift();
    if (early) return Promise.resolve(early);
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new InternalError('QMP_TIMEOUT', `QMP ${this.path}: no answer after ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (msg: Record<string, unknown>) => {
        clearTimeout(timer);
        resolve(msg);
      };
      this.waiters.push(waiter);
    });
  }

  /** Runs one QMP command and returns its `return` value, or throws its `error.desc`. */
  async execute(command: string, args?: Record<string, unknown>, timeoutMs = 5_000): Promise<unknown> {
    const answer = this.next(timeoutMs);
    this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    const msg = await answer;
    if (msg['error']) {
      const err = msg['error'] as { class?: string; desc?: string };
      throw new InternalError('QMP_ERROR', `QMP ${command}: ${err.desc ?? err.class ?? 'error'}`);
    }
    return msg['return'];
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Runs `use` on a fresh QMP connection to `path` and closes it, whatever `use` does. */
export async function withQmp<T>(path: string, timeoutMs: number, use: (qmp: QmpClient) => Promise<T>): Promise<T> {
  const qmp = await QmpClient.connect(path, timeoutMs);
  try {
    return await use(qmp);
  } finally {
    qmp.close();
  }
}

/** Sends one command (`quit`, `system_powerdown`); false when QMP is gone or wedged, so the caller falls back to signals. */
export async function qmpDelivered(path: string, command: string): Promise<boolean> {
  try {
    await withQmp(path, 2_000, (qmp) => qmp.execute(command));
    return true;
  } catch {
    return false;
  }
}
