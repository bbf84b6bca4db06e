import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { ensureBridge, removeBridge } from './bridge.js';
import { enableIpForward, ipForwardEnabled } from './ip-forward.js';
import { runIpBatch } from './ip-batch.js';
import { getLink, getLinkWithAddresses, linkAddresses } from './ip-link.js';
import { ensureNat, removeNat } from './nat.js';
import { tapNameFor } from './names.js';
import { ensureTap, listTaps, removeTap } from './tap.js';
import { ensureVmNetwork } from './vm-network.js';

// These create real bridges, taps and nftables tables, so they only run inside
// a throwaway network namespace: host-network.test.ts starts them through
// tools/e2e/netns-run.sh, which sets BANGER_NETNS.
describe.skipIf(!process.env['BANGER_NETNS'])('host networking inside a throwaway netns (run by host-network.test.ts)', () => {
  const bridge = 'bgtest0';
  const subnet = '172.16.0.0/24';

  it('creates the bridge with the gateway address, then finds nothing to do', async () => {
    expect(await ensureBridge({ name: bridge, subnet })).toEqual({ changed: true });
    expect(await linkAddresses(bridge)).toEqual(['172.16.0.1/24']);
    expect((await getLink(bridge))?.flags).toContain('UP');
    expect(await ensureBridge({ name: bridge, subnet })).toEqual({ changed: false });
  });

  it('repairs a bridge that lost its address and went down', async () => {
    await run('ip', ['addr', 'flush', 'dev', bridge]);
    await run('ip', ['link', 'set', 'dev', bridge, 'down']);
    expect(await ensureBridge({ name: bridge, subnet })).toEqual({ changed: true });
    expect(await linkAddresses(bridge)).toEqual(['172.16.0.1/24']);
    expect((await getLink(bridge))?.flags).toContain('UP');
  });

  it('refuses to adopt a link of the bridge name that is not a bridge', async () => {
    await run('ip', ['tuntap', 'add', 'dev', 'notabridge', 'mode', 'tun']);
    await expect(ensureBridge({ name: 'notabridge', subnet })).rejects.toThrow('bridge_name = notabridge: a tun device of that name exists and is not a bridge');
    await run('ip', ['link', 'del', 'notabridge']);
  });

  it('creates a tap owned by the daemon user on the bridge, idempotently, and lists it', async () => {
    const tap = tapNameFor('vm_one');
    expect(await ensureTap({ name: tap, bridge, ownerUid: 1000 })).toEqual({ changed: true });
    expect(await ensureTap({ name: tap, bridge, ownerUid: 1000 })).toEqual({ changed: false });
    const link = await getLink(tap);
    expect(link?.master).toBe(bridge);
    expect(readFileSync(`/sys/class/net/${tap}/owner`, 'utf8').trim()).toBe('1000');
    expect(await listTaps()).toContainEqual({ name: tap, bridge, ownerUid: 1000 });
  });

  it('recreates a tap whose owner is wrong', async () => {
    const tap = tapNameFor('vm_one');
    expect(await ensureTap({ name: tap, bridge, ownerUid: 0 })).toEqual({ changed: true });
    expect(readFileSync(`/sys/class/net/${tap}/owner`, 'utf8').trim()).toBe('0');
  });

  it('creates a new tap in one go (likelyNew): owner, bridge, alias and up, with no read before', async () => {
    const tap = tapNameFor('vm_new');
    expect(await ensureTap({ name: tap, bridge, ownerUid: 1000, ownerKey: 'aaaaaaaaaaaa', likelyNew: true })).toEqual({ changed: true });
    const link = await getLink(tap);
    expect(link?.master).toBe(bridge);
    expect(link?.ifalias).toBe('banger:aaaaaaaaaaaa');
    expect(link?.flags).toContain('UP');
    expect(readFileSync(`/sys/class/net/${tap}/owner`, 'utf8').trim()).toBe('1000');
    // Already right: the exclusive create fails, the read finds nothing to do.
    expect(await ensureTap({ name: tap, bridge, ownerUid: 1000, ownerKey: 'aaaaaaaaaaaa', likelyNew: true })).toEqual({ changed: false });
    await run('ip', ['link', 'del', tap]);
  });

  it('recreates a tap left with the wrong owner when likelyNew finds the name taken', async () => {
    const tap = tapNameFor('vm_left');
    await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', '4242']);
    expect(await ensureTap({ name: tap, bridge, ownerUid: 1000, ownerKey: 'aaaaaaaaaaaa', likelyNew: true })).toEqual({ changed: true });
    expect(readFileSync(`/sys/class/net/${tap}/owner`, 'utf8').trim()).toBe('1000');
    const link = await getLink(tap);
    expect([link?.master, link?.ifalias, link?.flags?.includes('UP')]).toEqual([bridge, 'banger:aaaaaaaaaaaa', true]);
    await run('ip', ['link', 'del', tap]);
  });

  it('puts back on the bridge, aliases and brings up a tap of the right owner in one change', async () => {
    const tap = tapNameFor('vm_off');
    await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', '1000']);
    const ifindex = readFileSync(`/sys/class/net/${tap}/ifindex`, 'utf8');
    expect(await ensureTap({ name: tap, bridge, ownerUid: 1000, ownerKey: 'bbbbbbbbbbbb' })).toEqual({ changed: true });
    const link = await getLink(tap);
    expect([link?.master, link?.ifalias, link?.flags?.includes('UP')]).toEqual([bridge, 'banger:bbbbbbbbbbbb', true]);
    expect(readFileSync(`/sys/class/net/${tap}/ifindex`, 'utf8'), 'the same tap, not a recreated one').toBe(ifindex);
    expect(await ensureTap({ name: tap, bridge, ownerUid: 1000, ownerKey: 'bbbbbbbbbbbb' })).toEqual({ changed: false });
    await run('ip', ['link', 'del', tap]);
  });

  it('refuses a tap name taken by a link that is not a tap, with or without likelyNew, and leaves that link alone', async () => {
    await run('ip', ['tuntap', 'add', 'dev', 'bgr-notatap', 'mode', 'tun']);
    await run('ip', ['link', 'add', 'name', 'bgr-bridged', 'type', 'bridge']);
    for (const likelyNew of [false, true]) {
      await expect(ensureTap({ name: 'bgr-notatap', bridge, ownerUid: 1000, likelyNew })).rejects.toThrow('tap bgr-notatap: a tun device of that name exists and is not a tap');
      await expect(ensureTap({ name: 'bgr-bridged', bridge, ownerUid: 1000, likelyNew })).rejects.toThrow('tap bgr-bridged: a bridge device of that name exists and is not a tap');
    }
    expect((await getLink('bgr-notatap'))?.linkinfo?.info_data?.type).toBe('tun');
    expect((await getLink('bgr-bridged'))?.linkinfo?.info_kind).toBe('bridge');
    await run('ip', ['link', 'del', 'bgr-notatap']);
    await run('ip', ['link', 'del', 'bgr-bridged']);
  });

  it('says in one line which ip command failed and why', async () => {
    const tap = tapNameFor('vm_nobridge');
    // Created by the first batch line, then the missing bridge: the read-and-repair path retries the one `link set`.
    const failure = ensureTap({ name: tap, bridge: 'bgnobridge', ownerUid: 1000, likelyNew: true });
    await expect(failure).rejects.toThrow(`ip link set dev ${tap} master bgnobridge up: Error: argument "bgnobridge" is wrong: Device does not exist`);
    const message = await failure.catch((error: Error) => error.message);
    expect(message).not.toContain('\n');
    await run('ip', ['link', 'del', tap]);
  });

  it('sets up bridge, forwarding, NAT and four new taps asked for at once', async () => {
    const racing = 'bgvmnet0';
    const taps = [1, 2, 3, 4].map((i) => tapNameFor(`vm_net${i}`));
    await Promise.all(taps.map((tap) => ensureVmNetwork({ bridge: racing, subnet: '172.16.11.0/24', tap, ownerUid: 1000, ownerKey: 'cccccccccccc' })));
    expect(await linkAddresses(racing)).toEqual(['172.16.11.1/24']);
    expect(ipForwardEnabled()).toBe(true);
    expect((await run('nft', ['list', 'table', 'ip', 'banger'])).stdout).toContain('ip saddr 172.16.11.0/24 ip daddr != 172.16.11.0/24 masquerade');
    for (const tap of taps) {
      const link = await getLink(tap);
      expect([link?.master, link?.ifalias, link?.flags?.includes('UP')], tap).toEqual([racing, 'banger:cccccccccccc', true]);
      expect(readFileSync(`/sys/class/net/${tap}/owner`, 'utf8').trim()).toBe('1000');
      await removeTap(tap);
    }
    await removeNat();
    await removeBridge(racing);
  });

  it('reports a failed chain only after the other one ended (no change lands after the step failed)', async () => {
    await run('ip', ['tuntap', 'add', 'dev', 'bgnotabr0', 'mode', 'tun']);
    const tap = tapNameFor('vm_nobr');
    await expect(ensureVmNetwork({ bridge: 'bgnotabr0', subnet: '172.16.12.0/24', tap, ownerUid: 1000, ownerKey: 'dddddddddddd' })).rejects.toThrow(
      'bridge_name = bgnotabr0: a tun device of that name exists and is not a bridge',
    );
    // The NAT chain was already made when the error came back, and no tap was.
    expect((await run('nft', ['list', 'table', 'ip', 'banger'])).stdout).toContain('ip saddr 172.16.12.0/24 accept');
    expect(await getLink(tap)).toBeUndefined();
    await removeNat();
    await run('ip', ['link', 'del', 'bgnotabr0']);
  });

  it('reads a link and its IPv4 addresses in one ip run', async () => {
    const both = await getLinkWithAddresses(bridge);
    expect(both?.link.linkinfo?.info_kind).toBe('bridge');
    expect(both?.addresses).toEqual(['172.16.0.1/24']);
    expect(await getLinkWithAddresses('bgnosuchlink')).toBeUndefined();
  });

  it('runs ip commands in one batch, stops at the first failure and names it', async () => {
    await expect(
      runIpBatch([
        ['link', 'add', 'name', 'bgbatch0', 'type', 'bridge'],
        ['link', 'set', 'dev', 'bgnosuchlink', 'up'],
        ['link', 'add', 'name', 'bgbatch1', 'type', 'bridge'],
      ]),
    ).rejects.toThrow('ip link set dev bgnosuchlink up: Cannot find device "bgnosuchlink"');
    expect(await getLink('bgbatch0')).toBeDefined();
    expect(await getLink('bgbatch1')).toBeUndefined();
    // An argument ip cannot parse ends it without saying which line: the error names the whole batch.
    await expect(runIpBatch([['link', 'set', 'dev', 'bgbatch0', 'up'], ['link', 'set', 'dev', 'bgbatch0', 'master', 'bgnosuchlink']])).rejects.toThrow(
      'ip -batch: Error: argument "bgnosuchlink" is wrong: Device does not exist (in: link set dev bgbatch0 up; link set dev bgbatch0 master bgnosuchlink)',
    );
    await run('ip', ['link', 'del', 'bgbatch0']);
  });

  it('removes a tap, and removing it again is a no-op', async () => {
    const tap = tapNameFor('vm_one');
    expect(await removeTap(tap)).toEqual({ changed: true });
    expect(await removeTap(tap)).toEqual({ changed: false });
    expect(await listTaps()).toEqual([]);
  });

  it('installs the NAT table once, repairs it when edited, and removes it', async () => {
    expect(await ensureNat({ subnet })).toEqual({ changed: true });
    expect(await ensureNat({ subnet })).toEqual({ changed: false });
    const table = (await run('nft', ['list', 'table', 'ip', 'banger'])).stdout;
    expect(table).toContain('ip saddr 172.16.0.0/24 ip daddr != 172.16.0.0/24 masquerade');
    expect(table).toContain('type nat hook postrouting priority srcnat; policy accept;');
    // Someone flushes a chain: the next ensure notices and restores it.
    await run('nft', ['flush', 'chain', 'ip', 'banger', 'postrouting']);
    expect(await ensureNat({ subnet })).toEqual({ changed: true });
    // A different subnet replaces the rules instead of adding to them.
    expect(await ensureNat({ subnet: '10.77.0.0/24' })).toEqual({ changed: true });
    const replaced = (await run('nft', ['list', 'table', 'ip', 'banger'])).stdout;
    expect(replaced).not.toContain('172.16.0.0/24');
    expect(await removeNat()).toEqual({ changed: true });
    expect(await removeNat()).toEqual({ changed: false });
  });

  it('enables IPv4 forwarding in the namespace', async () => {
    await run('sysctl', ['-w', 'net.ipv4.ip_forward=0']);
    expect(await enableIpForward()).toEqual({ changed: true });
    expect(ipForwardEnabled()).toBe(true);
    expect(await enableIpForward()).toEqual({ changed: false });
  });

  it('removes the bridge', async () => {
    expect(await removeBridge(bridge)).toEqual({ changed: true });
    expect(await getLink(bridge)).toBeUndefined();
  });

  it('sets up one bridge and one NAT table when four VM creations ask at once', async () => {
    const racing = 'bgrace0';
    const results = await Promise.all([1, 2, 3, 4].map(() => ensureBridge({ name: racing, subnet: '172.16.9.0/24' })));
    expect(results.filter((r) => r.changed)).toHaveLength(1);
    expect(await linkAddresses(racing)).toEqual(['172.16.9.1/24']);
    const nat = await Promise.all([1, 2, 3, 4].map(() => ensureNat({ subnet: '172.16.9.0/24', table: 'bgrace_nat' })));
    expect(nat.filter((r) => r.changed)).toHaveLength(1);
    expect((await run('nft', ['list', 'tables'])).stdout.split('\n').filter((l) => l.includes('bgrace_nat'))).toHaveLength(1);
    await removeNat('bgrace_nat');
    await removeBridge(racing);
  });

  it('accepts a bridge another process added between its check and its own add', async () => {
    const racing = 'bgrace1';
    // The other process: a second daemon (another user, same bridge_name) adding it at the same moment.
    await Promise.all([run('ip', ['link', 'add', 'name', racing, 'type', 'bridge']), ensureBridge({ name: racing, subnet: '172.16.10.0/24' })]);
    expect((await getLink(racing))?.linkinfo?.info_kind).toBe('bridge');
    expect(await linkAddresses(racing)).toEqual(['172.16.10.1/24']);
    await removeBridge(racing);
  });
});
