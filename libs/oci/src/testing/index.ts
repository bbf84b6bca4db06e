// Test helpers for banger's own tests and benchmarks (subpath `@banger/oci/testing`):
// a real docker-registry on 127.0.0.1, push helpers, a misbehaving front proxy
// and in-memory layer builders. Not part of the runtime API.
export { freePort } from './free-port.js';
export { buildLayer, listTree, makeTar, sha256, writeGzipLayer, type BuiltLayer, type LayerBlob, type LayerEntry } from './layers.js';
export { startProxy, type FrontProxy, type ProxyBehaviour } from './proxy.js';
export { pushBlob, pushImage, pushManifest, startRegistry, type TestRegistry } from './registry.js';
