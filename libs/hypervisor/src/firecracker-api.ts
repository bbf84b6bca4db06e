import { request } from 'node:http';
import { HostCommandError } from '@banger/errors';

/** One Firecracker API request: what the driver sends, in order. */
export interface FirecrackerCall {
  method: 'GET' | 'PUT' | 'PATCH';
  path: string;
  body?: unknown;
}

/** A non-2xx answer from the Firecracker API, with its fault_message. */
export class FirecrackerApiError extends HostCommandError {
  readonly status: number;
  readonly faultMessage: string;
  readonly call: string;
  constructor(call: FirecrackerCall, status: number, faultMessage: string) {
    // One line, whatever Firecracker put in the message (error chains can span lines).
    faultMessage = faultMessage.replace(/\s*\n\s*/g, ' ').trim() || 'no fault_message';
    super('firecracker', `firecracker API ${call.method} ${call.path} failed (${status}): ${faultMessage}`, {
      hint: 'see the VM\'s firecracker.log; the request body is in the daemon log at debug level',
    });
    this.status = status;
    this.faultMessage = faultMessage;
    this.call = `${call.method} ${call.path}`;
  }
}

/**
 * Sends one request over the API socket. Firecracker's micro_http reads bodies
 * only by Content-Length (a chunked body looks empty), so the body is sent as
 * one buffer with an explicit length. Resolves with the parsed JSON body (GET)
 * or undefined (204).
 */
export function firecrackerRequest(socketPath: string, call: FirecrackerCall, timeoutMs = 10_000): Promise<unknown> {
  const payload = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body), 'utf8');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method: call.method,
        path: call.path,
        agent: false,
        headers: {
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.byteLength) } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(json);
          const fault = (json as { fault_message?: string } | undefined)?.fault_message ?? (text.trim() || 'no fault_message');
          reject(new FirecrackerApiError(call, status, fault));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new HostCommandError('firecracker', `firecracker API ${call.method} ${call.path}: no answer after ${timeoutMs} ms`)));
    req.on('error', (e) =>
      reject(e instanceof HostCommandError ? e : new HostCommandError('firecracker', `firecracker API ${call.method} ${call.path}: ${e.message}`, { cause: e })),
    );
    req.end(payload);
  });
}
