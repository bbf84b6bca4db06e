// Test helpers for banger's own tests and benchmarks (subpath `@banger/ssh/testing`);
// not part of the runtime API.
export { freePort } from './free-port.js';
export { SSHD, prepareSshd, startSshd, sshdUnavailable, writeSshdFiles, type SshdFiles, type SshdFilesOptions, type TestSshd } from './sshd.js';
