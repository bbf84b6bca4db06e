import { readFile, statfs } from 'node:fs/promises';
import type { GuestFacts, MuxStream } from '@banger/agent';
import { AGENT_VERSION } from '../version.js';

/** `MemTotal: 123 kB` lines → bytes by key. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * (line.includes('kB') ? 1024 : 1);
  }
  return out;
}

/** Uptime, load, memory and root disk from /proc and statfs; the agent's own RSS. */
export async function guestFacts(root = '/'): Promise<GuestFacts> {
  const [uptime, loadavg, meminfo, fs] = await Promise.all([
    readFile('/proc/uptime', 'utf8'),
    readFile('/proc/loadavg', 'utf8'),
    readFile('/proc/meminfo', 'utf8'),
    statfs(root),
  ]);
  const mem = parseMeminfo(meminfo);
  const load = loadavg.split(' ').slice(0, 3).map(Number) as [number, number, number];
  return {
    uptimeSeconds: Number(uptime.split(' ')[0]),
    load,
    memory: { totalBytes: mem['MemTotal'] ?? 0, availableBytes: mem['MemAvailable'] ?? mem['MemFree'] ?? 0 },
    disk: { path: root, totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bfree * fs.bsize, availableBytes: fs.bavail * fs.bsize },
    agent: { version: AGENT_VERSION, pid: process.pid, rssBytes: process.memoryUsage.rss() },
  };
}

export async function factsOp(stream: MuxStream): Promise<void> {
  stream.control({ type: 'result', result: await guestFacts() });
}
