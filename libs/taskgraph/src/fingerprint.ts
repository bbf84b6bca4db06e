import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * What identifies one run of a step. `digest` decides skip-or-run; the per-input
 * and per-need digests are kept so the plan can say *which* input changed.
 * Stored as JSON in `step_state.fingerprint`.
 */
export interface Fingerprint {
  /** sha256 over the step's inputs and the digests of the steps it needs. */
  readonly digest: string;
  /** Input name → sha256 (first 16 hex) of its value. */
  readonly inputs: Readonly<Record<string, string>>;
  /** Needed step id → that step's digest. */
  readonly needs: Readonly<Record<string, string>>;
}

const short = (value: string): string => createHash('sha256').update(value).digest('hex').slice(0, 16);

/** Computes a step's fingerprint from its named inputs and the digests of what it needs. */
export function computeFingerprint(inputs: Record<string, string>, needs: Record<string, string>): Fingerprint {
  const inputDigests = sortedRecord(Object.entries(inputs).map(([name, value]) => [name, short(value)]));
  const needDigests = sortedRecord(Object.entries(needs));
  const digest = createHash('sha256')
    .update(JSON.stringify({ inputs: Object.entries(inputs).sort(byKey), needs: Object.entries(needDigests) }))
    .digest('hex');
  return { digest, inputs: inputDigests, needs: needDigests };
}

/** Serialises a fingerprint for the `step_state.fingerprint` column. */
export const serializeFingerprint = (fingerprint: Fingerprint): string => JSON.stringify(fingerprint);

/**
 * Reads a stored fingerprint. A value that is not our JSON (hand-edited, older
 * format) becomes a digest-only fingerprint, which simply never matches.
 */
export function parseFingerprint(text: string): Fingerprint {
  try {
    const value = JSON.parse(text) as Partial<Fingerprint>;
    if (typeof value.digest === 'string' && value.inputs && value.needs) return value as Fingerprint;
  } catch {
    // fall through: unknown format
  }
  return { digest: `unparsed:${text}`, inputs: {}, needs: {} };
}

/** Names of the inputs whose digests differ (added, removed or changed), sorted. */
export function changedInputs(previous: Fingerprint, current: Fingerprint): string[] {
  const names = new Set([...Object.keys(previous.inputs), ...Object.keys(current.inputs)]);
  return [...names].filter((name) => previous.inputs[name] !== current.inputs[name]).sort();
}

/** Ids of the needed steps whose digests differ, sorted. */
export function changedNeeds(previous: Fingerprint, current: Fingerprint): string[] {
  const ids = new Set([...Object.keys(previous.needs), ...Object.keys(current.needs)]);
  return [...ids].filter((id) => previous.needs[id] !== current.needs[id]).sort();
}

/**
 * sha256 (hex) of a file's content, or `missing` when it does not exist: a
 * convenient input fingerprint for steps that consume files.
 */
export async function fileDigest(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, signal ? { signal } : {})) hash.update(chunk as Buffer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  return hash.digest('hex');
}

const byKey = (a: [string, unknown], b: [string, unknown]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

function sortedRecord(entries: [string, string][]): Record<string, string> {
  return Object.fromEntries(entries.sort(byKey));
}
