import { it } from 'vitest';
import { buildKernelBundle } from './build-bundle.js';
import { testCacheDir } from './__fixtures__/real-kernel.js';
import { join } from 'node:path';
it('builds', async () => {
  const t = Date.now();
  const m = await buildKernelBundle({ debPackage: 'linux-image-cloud-amd64', name: 'debian-cloud', outDir: '/tmp/kdev/bundle', cacheDir: join(testCacheDir, 'kernels'), progress: { line: (l) => console.log(Date.now() - t, l) } });
  console.log(JSON.stringify(m, null, 1));
}, 600_000);
