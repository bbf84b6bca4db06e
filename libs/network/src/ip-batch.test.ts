import { describe, expect, it } from 'vitest';
import { runIpBatch } from './ip-batch.js';

describe('runIpBatch', () => {
  // Read-only commands: were a word let through, ip would only print or fail, on any host.
  it.each(['lo bogus', 'lo"', "lo'", 'lo#', 'lo\nlink show', ''])('refuses the word %j before starting ip', async (word) => {
    await expect(runIpBatch([['link', 'show', 'dev', word]])).rejects.toMatchObject({ code: 'NETWORK_BAD_IP_BATCH_WORD' });
  });
});
