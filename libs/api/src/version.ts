/**
 * The release version baked into both binaries. The CLI compares it with the
 * daemon's on every connection (`hello`) and replaces a daemon whose version
 * differs, so an upgrade never talks to a stale daemon.
 */
export const BANGER_VERSION = '0.1.0';

/**
 * Bumped whenever the wire envelope (not a method's schema) changes
 * incompatibly. Reported by `hello`.
 */
export const PROTOCOL_VERSION = 1;

/**
 * The version a binary reports: `BANGER_VERSION_OVERRIDE` when set (TEST-ONLY:
 * lets the test suite fake an older daemon or CLI), else BANGER_VERSION.
 */
export function effectiveVersion(env: NodeJS.ProcessEnv = process.env): string {
  const override = env['BANGER_VERSION_OVERRIDE'];
  return override && override.trim() !== '' ? override.trim() : BANGER_VERSION;
}
