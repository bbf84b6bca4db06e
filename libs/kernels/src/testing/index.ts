// Test helpers for banger's own tests and benchmarks (subpath `@banger/kernels/testing`);
// not part of the runtime API.
export { ensureTestKernel, testKernelDir, type TestKernel } from './test-kernel.js';
