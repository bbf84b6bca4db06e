export * from './types.js';
export { hostDoctorEnv, lookup, SBIN_DIRS, type DoctorEnv } from './env.js';
export { doctorChecks, runDoctor } from './run-doctor.js';
export { formatDoctorReport, type FormatDoctorOptions } from './format.js';
export { HOST_TOOLS, type ToolSpec } from './checks/tools.js';
export { DISK_FAIL_BYTES, DISK_WARN_BYTES } from './checks/disk.js';
