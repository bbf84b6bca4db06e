export { DEFAULT_DEBIAN_SUITE, openDebianArchive, type ArchivePackage, type DebianArchive, type DebianArchiveOptions } from './archive.js';
export type { Release } from './release.js';
export { compareDebianVersions } from './version.js';
