import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '@banger/errors';
import { fuzzSeed, seededRandom } from '@banger/host/testing';
import { loadConfig } from './index.js';

// A fixed seed keeps a failure reproducible; BANGER_FUZZ_SEED picks another for a longer hunt.
const SEED = fuzzSeed(20261204);
const CASES = Number(process.env['BANGER_FUZZ_CASES'] ?? 2000);


const VALID = `default_image_name = "debian-bookworm"
default_kernel_name = "debian-cloud"
ssh_key_path = "~/.ssh/id_ed25519"
hypervisor = "qemu"
bridge_name = "bng0"
bridge_subnet = "172.30.0.0/24"
catalog_url = "https://example.test/catalog.json"
dns_port = 5353
dns_upstreams = ["127.0.0.1:53"]

[vm_defaults]
vcpu = 2
memory_mib = 2048
disk_size = "8G"

[[file_sync]]
host = "~/.gitconfig"
guest = "~/.gitconfig"
mode = "644"
`;

/** Fragments a hostile or careless hand might type: TOML syntax, odd values, control bytes, unknown keys. */
const TOKENS = [
  '[', ']', '[[', ']]', '=', '"', "'", '"""', '{', '}', ',', '.', '#', '\n', '\r\n', '\t', '\\', '\\u0000', '\\uD800',
  '__proto__', 'constructor', 'prototype', 'vm_defaults', 'file_sync', 'memory_mib', 'vcpu', 'hypervisor',
  '-1', '0', '1e400', 'nan', 'inf', '9007199254740993', '0x10', '1979-05-27T07:32:00Z', 'true', '"a/../../../etc"',
  '"/tmp/a\\nb"', '"~"', '""', `"${'x'.repeat(5000)}"`, '\u0000', '\u001b]0;title\u0007', '\uFEFF', 'ü', '\u2028',
];

function mutate(random: () => number, text: string): Buffer {
  let out = text;
  const edits = 1 + Math.floor(random() * 6);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (out.length + 1));
    const kind = random();
    if (kind < 0.35) out = out.slice(0, at) + TOKENS[Math.floor(random() * TOKENS.length)]! + out.slice(at);
    else if (kind < 0.6) out = out.slice(0, at) + out.slice(at + 1 + Math.floor(random() * 20));
    else if (kind < 0.75) out = out.slice(0, at); // truncated, as by a crash mid-save
    else if (kind < 0.9) {
      const lines = out.split('\n');
      const from = Math.floor(random() * lines.length);
      lines.splice(Math.floor(random() * lines.length), 0, lines[from]!); // a duplicated line: duplicate keys and tables
      out = lines.join('\n');
    } else out = out.slice(0, at) + String.fromCharCode(Math.floor(random() * 0x2fff)) + out.slice(at);
  }
  const bytes = Buffer.from(out, 'utf8');
  // Now and then a raw byte that is not UTF-8 at all.
  if (random() < 0.1 && bytes.length > 0) bytes[Math.floor(random() * bytes.length)] = 0x80 + Math.floor(random() * 0x7f);
  return bytes;
}

const dir = mkdtempSync(join(tmpdir(), 'banger-config-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('config.toml from a hostile hand', () => {
  it(`reads ${CASES} mangled files (seed ${SEED}) as a config or one line naming the file, never a crash`, () => {
    const random = seededRandom(SEED);
    const configFile = join(dir, 'config.toml');
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < CASES; i++) {
      const bytes = mutate(random, VALID);
      writeFileSync(configFile, bytes);
      const where = `case ${i} of seed ${SEED}: ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`;
      try {
        const config = loadConfig({ configFile }, { home: '/home/ada' });
        accepted++;
        // What is accepted is usable: no prototype pollution, and numbers in their ranges.
        expect(Object.getPrototypeOf(config), where).toBe(Object.prototype);
        expect(({} as Record<string, unknown>)['polluted'], where).toBeUndefined();
        if (config.vmDefaults.vcpu !== undefined) expect(Number.isInteger(config.vmDefaults.vcpu) && config.vmDefaults.vcpu > 0, where).toBe(true);
        if (config.vmDefaults.memoryMib !== undefined) expect(config.vmDefaults.memoryMib, where).toBeGreaterThanOrEqual(128);
        for (const entry of config.fileSync) expect(/[\0\n\r]/.test(entry.host + entry.guest), where).toBe(false);
      } catch (error) {
        refused++;
        expect(error, where).toBeInstanceOf(UserError);
        const message = (error as UserError).message;
        expect(message.startsWith(configFile), `${where}\n${message}`).toBe(true);
        expect(message, where).not.toMatch(/[\n\r\u001b\u0000]/);
        expect(message.length, where).toBeLessThan(1_000);
      }
    }
    // Both outcomes were reached: the mutations neither break everything nor nothing.
    expect(accepted).toBeGreaterThan(CASES / 50);
    expect(refused).toBeGreaterThan(CASES / 2);
  }, 120_000);
});
