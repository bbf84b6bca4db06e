import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '@banger/host';

/**
 * Decompresses `data` with the host's `xz` (xz or lzma format) or `zstd`,
 * file to file in a private temp dir: kernels are tens of MB, and the tools'
 * file mode also checks the stream's integrity end to end (xz's CRC, zstd's
 * frame checksum) before we read the result.
 */
export async function decompressWithTool(kind: 'xz' | 'lzma' | 'zstd', data: Buffer, signal?: AbortSignal): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'banger-decompress-'));
  try {
    const input = join(dir, kind === 'zstd' ? 'data.zst' : kind === 'lzma' ? 'data.lzma' : 'data.xz');
    const output = join(dir, 'data');
    await writeFile(input, data);
    if (kind === 'zstd') await run('zstd', ['-d', '-q', '-f', '-o', output, input], { signal });
    else await run('xz', ['-d', '-k', '-f', kind === 'lzma' ? '--format=lzma' : '--single-stream', input], { signal });
    return await readFile(output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
