import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { killHard, processStartTime } from '@banger/hypervisor';
import { removeTap, tapNameFor } from '@banger/network';
import { processesMentioning } from '../processes-mentioning.js';

/** The tap of the template guest of `fingerprint` (on no bridge; removed when its build ends). */
export const templateTapName = (fingerprint: string): string => tapNameFor(`tpl_${fingerprint}`);

/** The key builds of one template serialise on (vm.warm-template), and so does the removal of its stale builds. */
export const templateBuildKey = (templateDir: string): string => `warm-template:${templateDir}`;

/**
 * Removes what a template build left when its daemon was killed mid-build
 * (`<state>/warm/<fingerprint>.tmp-<daemon pid>-<hex>`, that daemon gone):
 * the template guest's QEMU, which runs on detached (its files deleted, it
 * would idle until the host reboots), anything else running from that
 * directory (the save's helper), the build's tap, then the directory. The
 * build is not adopted: it cannot go on without the daemon that ran it, and
 * the next VM of those inputs builds the template again. Call it holding
 * templateBuildKey of the template (its tap is the next build's too).
 */
export async function removeStaleTemplateBuild(dir: string): Promise<void> {
  for (const { pid } of processesMentioning(`${dir}/`)) {
    const startTime = processStartTime(pid);
    if (startTime !== undefined) await killHard(pid, startTime);
  }
  await removeTap(templateTapName(fingerprintOf(dir))).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}

/** The fingerprint a template build's temp directory (`<fingerprint>.tmp-<pid>-<hex>`) is for. */
export const fingerprintOf = (tempDir: string): string => basename(tempDir).replace(/\.tmp-\d+-[0-9a-f]{8}$/, '');
