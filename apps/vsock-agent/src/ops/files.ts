import { createReadStream, createWriteStream } from 'node:fs';
import { chown, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UserError } from '@banger/errors';
import { Channel, type GetFileRequest, type MuxStream, type PutFileRequest } from '@banger/agent';
import { lookupGroup, lookupUser } from './users.js';

const fileError = (what: string, error: unknown) =>
  new UserError('AGENT_FILE_FAILED', `guest: ${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });

/**
 * put-file: the bytes of channel 0 go to a temp file beside the target,
 * which gets its mode and owner and is then renamed into place, so readers
 * never see half a file. Answers `{ size }`.
 */
export async function putFileOp(stream: MuxStream, request: PutFileRequest): Promise<void> {
  if (typeof request.path !== 'string' || !request.path.startsWith('/')) throw new UserError('AGENT_BAD_REQUEST', 'guest agent: put-file needs an absolute path');
  const mode = request.mode ?? 0o644;
  const uid = request.owner === undefined ? undefined : (await lookupUser(request.owner)).uid;
  const gid = request.group === undefined ? (request.owner === undefined ? undefined : (await lookupUser(request.owner)).gid) : await lookupGroup(request.group);
  const temp = join(dirname(request.path), `.${basename(request.path)}.banger-${process.pid}-${stream.id}`);
  const handle = await open(temp, 'wx', 0o600).catch((e) => {
    throw fileError(`write ${request.path}`, e);
  });
  try {
    const out = createWriteStream('', { fd: handle.fd, autoClose: false });
    await pipeline(stream.input(Channel.stdin), out);
    if (stream.isClosed) throw fileError(`write ${request.path}`, 'the host went away mid-transfer');
    await handle.chmod(mode);
    if (uid !== undefined || gid !== undefined) await chown(temp, uid ?? -1, gid ?? -1);
    await handle.sync();
    await handle.close();
    await rename(temp, request.path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error instanceof UserError ? error : fileError(`write ${request.path}`, error);
  }
  const size = (await stat(request.path)).size;
  stream.control({ type: 'result', result: { size } });
}

/** get-file: `stat` (size, mode, uid, gid), then the bytes on channel 1, then `result`. */
export async function getFileOp(stream: MuxStream, request: GetFileRequest): Promise<void> {
  if (typeof request.path !== 'string' || !request.path.startsWith('/')) throw new UserError('AGENT_BAD_REQUEST', 'guest agent: get-file needs an absolute path');
  const handle = await open(request.path, 'r').catch((e) => {
    throw fileError(`read ${request.path}`, e);
  });
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw new UserError('AGENT_FILE_FAILED', `guest: read ${request.path}: not a regular file`);
    stream.control({ type: 'stat', stat: { size: s.size, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid } });
    await pipeline(createReadStream('', { fd: handle.fd, autoClose: false }), stream.output(Channel.stdout));
  } finally {
    await handle.close().catch(() => undefined);
  }
  stream.control({ type: 'result', result: {} });
}
