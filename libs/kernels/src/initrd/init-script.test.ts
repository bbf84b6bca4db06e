import { describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { prerequisites } from '@banger/host/testing';
import { INIT_SCRIPT } from './init-script.js';

const busybox = prerequisites(['busybox']);

describe('the initrd /init script', () => {
  it.skipIf(busybox.skip)('parses as a busybox sh script', async () => {
    busybox.assert();
    const result = await run('busybox', ['sh', '-n'], { input: INIT_SCRIPT, allowFailure: true });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it('starts with a shebang and switch_roots at the end', () => {
    expect(INIT_SCRIPT.startsWith('#!/bin/sh\n')).toBe(true);
    expect(INIT_SCRIPT.trimEnd().endsWith('exec switch_root /newroot "$init" "$@"')).toBe(true);
  });

  it('honours every kernel parameter of the guest contract', () => {
    for (const param of ['root=*)', 'ro)', 'rw)', 'rootfstype=*)', 'init=*)', 'rdshell)', 'banger.modules=*)']) {
      expect(INIT_SCRIPT).toContain(param);
    }
  });
});
