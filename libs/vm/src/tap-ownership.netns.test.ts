import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBridge, ensureTap, getLink, removeBridge, tapNameFor } from '@banger/network';
import { testEnv } from './__fixtures__/env.js';
import { insertVmRecord } from './__fixtures__/vm-records.js';
import { findOrphans, removeOrphans } from './orphans.js';
import { reconcileVms } from './reconcile.js';
import { newVmId, type VmRecord } from './vm-record.js';

// Two banger homes on one host share the tap namespace (`bgr-…`) and, with
// the same bridge_name, the bridge. Each must clean up only its own leaked
// taps. Creates real taps, so it only runs inside a throwaway netns:
// tap-ownership.test.ts starts it through tools/e2e/netns-run.sh.
const bridge = 'bgtest0';
const uid = process.getuid?.() ?? 0;
/** The alias written independently of the code under test: banger:<12 hex of sha256(abs VMs dir)>. */
const aliasOf = (vmsDir: string): string => `banger:${createHash('sha256').update(resolve(vmsDir)).digest('hex').slice(0, 12)}`;
const aliasOn = (tap: string): string => readFileSync(`/sys/class/net/${tap}/ifalias`, 'utf8').trim();


/** A VM record whose tap is named for its id, as create names it. */
function withTap(env: ReturnType<typeof testEnv>, name: string): VmRecord {
  const id = newVmId();
  return insertVmRecord(env, name, { id, tap: tapNameFor(id) });
}

describe.skipIf(!process.env['BANGER_NETNS'])('tap ownership across two banger homes (run by tap-ownership.test.ts)', () => {
  const homeA = testEnv({ bridgeName: bridge });
  const homeB = testEnv({ bridgeName: bridge });
  afterAll(async () => {
    homeA.watcher.close();
    homeB.watcher.close();
    homeA.cleanup();
    homeB.cleanup();
    await removeBridge(bridge);
  });

  const keyA = aliasOf(homeA.paths.vmsDir).slice('banger:'.length);
  const keyB = aliasOf(homeB.paths.vmsDir).slice('banger:'.length);
  const vmA = withTap(homeA, 'a-kept');
  const vmB = withTap(homeB, 'b-kept');
  const tapA = tapNameFor(vmA.id);
  const tapB = tapNameFor(vmB.id);
  const leakA = tapNameFor('vm_leaked_by_a');
  const leakB = tapNameFor('vm_leaked_by_b');
  const unowned = tapNameFor('vm_from_an_old_banger');

  it('tags each tap with its home in the link alias', async () => {
    await ensureBridge({ name: bridge, subnet: '172.16.0.0/24' });
    await ensureTap({ name: tapA, bridge, ownerUid: uid, ownerKey: keyA });
    await ensureTap({ name: leakA, bridge, ownerUid: uid, ownerKey: keyA });
    await ensureTap({ name: tapB, bridge, ownerUid: uid, ownerKey: keyB });
    await ensureTap({ name: leakB, bridge, ownerUid: uid, ownerKey: keyB });
    await ensureTap({ name: unowned, bridge, ownerUid: uid });
    expect(aliasOn(tapA)).toBe(aliasOf(homeA.paths.vmsDir));
    expect(aliasOn(leakB)).toBe(aliasOf(homeB.paths.vmsDir));
    expect(aliasOf(homeA.paths.vmsDir)).not.toBe(aliasOf(homeB.paths.vmsDir));
    expect((await getLink(tapA))?.ifalias).toBe(aliasOf(homeA.paths.vmsDir));
    // Ensuring again finds nothing to do.
    expect(await ensureTap({ name: tapA, bridge, ownerUid: uid, ownerKey: keyA })).toEqual({ changed: false });
  });

  it("doctor of home A finds A's leaked tap, reports the unaliased one, and ignores B's taps", async () => {
    const network = (await findOrphans(homeA)).filter((o) => ['tap', 'unowned-tap', 'bridge-port'].includes(o.kind));
    expect(network.map((o) => `${o.kind} ${o.name}`).sort()).toEqual([`tap ${leakA}`, `unowned-tap ${unowned}`].sort());
    expect(network.find((o) => o.kind === 'unowned-tap')?.detail).toContain('unowned, not removed');
  });

  it("doctor --fix of home A removes only A's leaked tap", async () => {
    const lines = await removeOrphans(homeA, (await findOrphans(homeA)).filter((o) => ['tap', 'unowned-tap', 'bridge-port'].includes(o.kind)));
    expect(lines).toContain(`removed tap ${leakA}`);
    expect(lines.some((l) => l.startsWith(`not removed unowned-tap ${unowned}`))).toBe(true);
    expect(await getLink(leakA)).toBeUndefined();
    for (const kept of [tapA, tapB, leakB, unowned]) expect(await getLink(kept), kept).toBeDefined();
  });

  it("home B's reconcile at daemon start removes B's leaked tap and nothing of A's", async () => {
    const report = await reconcileVms(homeB);
    expect(report.removedTaps).toEqual([leakB]);
    expect(report.unownedTaps).toEqual([unowned]);
    expect(report.problems).toEqual([]);
    expect(await getLink(leakB)).toBeUndefined();
    for (const kept of [tapA, tapB, unowned]) expect(await getLink(kept), kept).toBeDefined();
  });
});
