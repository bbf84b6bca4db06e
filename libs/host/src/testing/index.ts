// Test helpers for banger's own tests and benchmarks (subpath `@banger/host/testing`);
// not part of the runtime API.
export { cachedArtifact, cachedArtifactDir, testCacheRoot, testDebianMirror, type CachedArtifactOptions } from './test-cache.js';
export { prerequisites, type Prerequisites } from './prerequisites.js';
export { seededRandom, fuzzSeed } from './seeded-random.js';
