import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { InternalError, UserError } from '@banger/errors';
import { RegistryClient, type RegistryClientOptions } from './registry-client.js';

/** Bytes to push: a file on disk (read in chunks) or a buffer. */
export type BlobSource = { path: string } | { bytes: Buffer };

/** Options of a RegistryPushClient: the pull client's, plus how blobs are cut into requests. */
export interface RegistryPushOptions extends RegistryClientOptions {
  /** Blobs up to this size go up in one PUT (monolithic); larger ones in PATCH chunks. Default 32 MiB. */
  monolithicLimit?: number;
  /** Size of one PATCH of a chunked upload. Default 16 MiB (each chunk is held in memory once). */
  chunkSize?: number;
}

/** What an upload did: `exists` when the registry already had the blob (HEAD), else how it went up. */
export interface PushedBlob {
  digest: string;
  size: number;
  upload: 'exists' | 'monolithic' | 'chunked';
}

const DEFAULT_MONOLITHIC_LIMIT = 32 * 1024 * 1024;
const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * The push side of the distribution API on top of RegistryClient (same
 * transport, same auth; tokens are asked for with `pull,push` scope):
 * HEAD a blob, upload it monolithically (POST, then PUT ?digest=) or in
 * chunks (POST, PATCH with Content-Range…, PUT ?digest=), PUT a manifest.
 * Every body is a Buffer so a request answered with 401 can be sent again.
 * The registry verifies each blob against the digest banger computed and
 * banger checks the digest the registry reports back; a mismatch either way
 * is an error naming the reference, never a silent success.
 */
export class RegistryPushClient extends RegistryClient {
  private readonly monolithicLimit: number;
  private readonly chunkSize: number;

  constructor(options: RegistryPushOptions) {
    super(options);
    this.monolithicLimit = options.monolithicLimit ?? DEFAULT_MONOLITHIC_LIMIT;
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  }

  /** HEAD /v2/<repo>/blobs/<digest>: whether the registry already holds the blob (with that size, when given). */
  async hasBlob(repository: string, digest: string, size?: number): Promise<boolean> {
    const res = await this.request(repository, `/v2/${repository}/blobs/${digest}`, { method: 'HEAD' }, 'pull,push');
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (!res.ok) throw this.httpError(res, `HEAD blob ${digest} in ${this.registry}/${repository}`);
    const length = res.headers.get('content-length');
    return size === undefined || length === null || Number(length) === size;
  }

  /**
   * Uploads a blob unless the registry has it already. `digest` is what the
   * blob is claimed to be (computed from the source when omitted); the
   * registry refuses bytes that do not hash to it (OCI_UPLOAD_REFUSED).
   */
  async pushBlob(repository: string, source: BlobSource, digest?: string): Promise<PushedBlob> {
    const size = 'bytes' in source ? source.bytes.length : (await stat(source.path)).size;
    const claimed = digest ?? (await digestOf(source));
    if (!DIGEST.test(claimed)) throw new UserError('OCI_DIGEST_INVALID', `blob digest "${claimed}" for ${this.where(repository)} is not sha256:<64 hex>`);
    if (await this.hasBlob(repository, claimed, size)) return { digest: claimed, size, upload: 'exists' };
    let location = await this.startUpload(repository);
    let upload: PushedBlob['upload'];
    let last: Buffer | undefined;
    if (size <= this.monolithicLimit) {
      upload = 'monolithic';
      last = 'bytes' in source ? source.bytes : await readRange(source.path, 0, size);
    } else {
      upload = 'chunked';
      for (let offset = 0; offset < size; offset += this.chunkSize) {
        const chunk = await chunkOf(source, offset, Math.min(this.chunkSize, size - offset));
        location = await this.patchChunk(repository, location, chunk, offset);
      }
    }
    const url = new URL(location);
    url.searchParams.set('digest', claimed);
    const res = await this.request(
      repository,
      url.toString(),
      { method: 'PUT', body: last ?? Buffer.alloc(0), headers: { 'content-type': 'application/octet-stream', 'content-length': String(last?.length ?? 0) } },
      'pull,push',
    );
    const text = res.ok ? '' : await res.text().catch(() => '');
    if (res.status === 400 && /DIGEST_INVALID|SIZE_INVALID|BLOB_UPLOAD_INVALID/.test(text)) {
      throw new UserError('OCI_UPLOAD_REFUSED', `upload of blob ${claimed} to ${this.where(repository)} refused: the registry says the bytes do not match (${errorCode(text)})`, {
        hint: 'the file changed while it was pushed, or the digest given for it is wrong; push again',
      });
    }
    if (res.status !== 201) throw this.httpError(res, `PUT blob ${claimed} to ${this.where(repository)}`, errorCode(text) || undefined);
    await res.body?.cancel();
    const stored = res.headers.get('docker-content-digest');
    if (stored && stored !== claimed) {
      throw new InternalError('OCI_UPLOAD_DIGEST_MISMATCH', `blob pushed to ${this.where(repository)} was stored as ${stored}, banger sent ${claimed}`, {
        hint: 'the registry or a proxy altered the upload; push again',
      });
    }
    return { digest: claimed, size, upload };
  }

  /**
   * PUT a manifest under `reference` (a tag, or its own digest). Returns the
   * body's digest after checking the registry stored it under that digest.
   */
  async putManifest(repository: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const where = `${this.where(repository)}:${reference}`;
    const res = await this.request(repository, `/v2/${repository}/manifests/${reference}`, { method: 'PUT', body, headers: { 'content-type': mediaType } }, 'pull,push');
    if (res.status !== 201) {
      const text = await res.text().catch(() => '');
      if (res.status === 400) {
        throw new UserError('OCI_MANIFEST_REFUSED', `registry refused manifest ${where}: ${errorCode(text) || `HTTP ${res.status}`}`, {
          hint: 'a blob it names is missing or the registry does not accept this manifest type',
        });
      }
      throw this.httpError(res, `PUT manifest ${where}`, errorCode(text) || undefined);
    }
    await res.body?.cancel();
    const stored = res.headers.get('docker-content-digest');
    if (stored && stored !== digest) {
      throw new InternalError('OCI_UPLOAD_DIGEST_MISMATCH', `manifest ${where} was stored as ${stored}, banger sent ${digest}`, { hint: 'the registry or a proxy altered the upload; push again' });
    }
    return digest;
  }

  /** POST /v2/<repo>/blobs/uploads/: the session's absolute Location. */
  private async startUpload(repository: string): Promise<string> {
    const res = await this.request(repository, `/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } }, 'pull,push');
    await res.body?.cancel();
    if (res.status !== 202) throw this.httpError(res, `POST blob upload to ${this.where(repository)}`);
    return this.locationOf(res, `POST blob upload to ${this.where(repository)}`);
  }

  /** PATCH one chunk at `offset`; the registry must confirm it holds bytes 0…offset+length-1. Returns the next Location. */
  private async patchChunk(repository: string, location: string, chunk: Buffer, offset: number): Promise<string> {
    const end = offset + chunk.length - 1;
    const res = await this.request(
      repository,
      location,
      { method: 'PATCH', body: chunk, headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end}`, 'content-length': String(chunk.length) } },
      'pull,push',
    );
    await res.body?.cancel();
    if (res.status !== 202) throw this.httpError(res, `PATCH blob chunk ${offset}-${end} to ${this.where(repository)}`);
    // Range says what the registry holds so far ("0-<end>"); anything else would corrupt the blob silently.
    const range = res.headers.get('range');
    if (range && range !== `0-${end}` && range !== `bytes=0-${end}`) {
      throw new InternalError('OCI_UPLOAD_RANGE', `chunked upload to ${this.where(repository)}: after bytes ${offset}-${end} the registry holds ${range}`, {
        hint: 'the registry lost part of the upload; push again',
      });
    }
    return this.locationOf(res, `PATCH blob chunk to ${this.where(repository)}`);
  }

  private locationOf(res: Response, what: string): string {
    const location = res.headers.get('location');
    if (!location) throw this.httpError(res, what, 'no Location header');
    return new URL(location, this.baseUrl).toString();
  }

  private where(repository: string): string {
    return `${this.registry}/${repository}`;
  }
}

/** `sha256:<hex>` of a blob source, streamed for files. */
export async function digestOf(source: BlobSource): Promise<string> {
  const hash = createHash('sha256');
  if ('bytes' in source) hash.update(source.bytes);
  else {
    const file = await open(source.path, 'r');
    try {
      for await (const chunk of file.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
    } finally {
      await file.close();
    }
  }
  return `sha256:${hash.digest('hex')}`;
}

async function chunkOf(source: BlobSource, offset: number, length: number): Promise<Buffer> {
  return 'bytes' in source ? source.bytes.subarray(offset, offset + length) : readRange(source.path, offset, length);
}

async function readRange(path: string, offset: number, length: number): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await file.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) throw new UserError('OCI_UPLOAD_REFUSED', `${path} shrank while it was pushed (${offset + done} of ${offset + length} bytes)`, { hint: 'push again once nothing writes the file' });
      done += bytesRead;
    }
    return buffer;
  } finally {
    await file.close();
  }
}

/** The distribution API's error codes from a JSON error body (`DIGEST_INVALID, …`), or ''. */
function errorCode(text: string): string {
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    return (body.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join(', ');
  } catch {
    return '';
  }
}
