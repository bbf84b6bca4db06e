import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { streamLogLines } from './console-log.js';

const dir = mkdtempSync(join(tmpdir(), 'banger-console-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('streaming a log file', () => {
  it('sends the last N complete lines, without carriage returns, and filters', async () => {
    const file = join(dir, 'a.log');
    writeFileSync(file, 'one\r\ntwo\nthree\nfour\npartial');
    const lines: string[] = [];
    await streamLogLines(file, { lines: 2, signal: new AbortController().signal, onLine: (l) => lines.push(l) });
    expect(lines).toEqual(['three', 'four']);
    const filtered: string[] = [];
    await streamLogLines(file, { signal: new AbortController().signal, filter: (l) => l.startsWith('t'), onLine: (l) => filtered.push(l) });
    expect(filtered).toEqual(['two', 'three']);
  });

  it('follows appended lines and starts over when the file is truncated, until aborted', async () => {
    const file = join(dir, 'b.log');
    writeFileSync(file, 'old\n');
    const lines: string[] = [];
    const controller = new AbortController();
    const done = streamLogLines(file, { follow: true, lines: 0, signal: controller.signal, onLine: (l) => lines.push(l) });
    await sleep(400);
    appendFileSync(file, 'new 1\nnew');
    await sleep(700);
    appendFileSync(file, ' 2\n');
    await sleep(700);
    writeFileSync(file, 'after truncate\n');
    await sleep(700);
    controller.abort();
    await done;
    expect(lines).toEqual(['new 1', 'new 2', 'after truncate']);
  });

  it('treats a missing file as empty', async () => {
    const lines: string[] = [];
    await streamLogLines(join(dir, 'missing.log'), { signal: new AbortController().signal, onLine: (l) => lines.push(l) });
    expect(lines).toEqual([]);
  });
});
