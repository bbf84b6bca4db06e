import { describe, expect, it } from 'vitest';
import { parseVsockConnectReply } from './firecracker-vsock.js';

describe('parseVsockConnectReply: Firecracker\'s answer to CONNECT, taken strictly', () => {
  it('takes "OK <host port>" and returns the port (the docs\' example: OK 1073741824)', () => {
    expect(parseVsockConnectReply('OK 1073741824')).toBe(1073741824);
    expect(parseVsockConnectReply('OK 0')).toBe(0);
    expect(parseVsockConnectReply('OK 4294967295')).toBe(4294967295);
  });

  it('rejects anything else: other words, case, spacing, a carriage return, a port beyond u32', () => {
    for (const line of ['', 'OK', 'OK ', 'ok 5', 'OK  5', ' OK 5', 'OK 5 ', 'OK 5\r', 'OK -5', 'OK 5x', 'OK 4294967296', 'OK 12345678901', 'ERR 5', 'HTTP/1.1 400 Bad Request']) {
      expect({ line, port: parseVsockConnectReply(line) }).toEqual({ line, port: undefined });
    }
  });
});
