import { isIP } from 'node:net';
import * as z from 'zod';
import type { ErrorCode } from '@banger/errors';
import { checkBinary, checkHostPath, normalizeGuestPath } from './file-paths.js';
import { GiB, TiB, trySize } from './size.js';
import { checkBridgeSubnet, type Problem } from './subnet.js';

/** Sane bounds for `[vm_defaults]`; Firecracker caps a VM at 32 vCPUs. */
export const LIMITS = {
  vcpu: { min: 1, max: 32 },
  memoryMib: { min: 128, max: 1024 * 1024 },
  diskBytes: { min: 1 * GiB, max: 16 * TiB },
} as const;

/**
 * What each key accepts, in words: the tail of every "bad value" error, so a
 * wrong type and a wrong value read the same way.
 */
export const ALLOWED: Record<string, string> = {
  default_image_name: 'expected an image name such as "debian-bookworm" (lower-case letters, digits, ".", "_" and "-")',
  default_kernel_name: 'expected a kernel name such as "debian-cloud" (lower-case letters, digits, ".", "_" and "-")',
  ssh_key_path: 'expected the path of an SSH private key ("~/.ssh/id_ed25519")',
  firecracker_bin: 'expected the path of the firecracker binary ("/usr/local/bin/firecracker")',
  qemu_bin: 'expected the path of qemu-system-x86_64 ("/usr/bin/qemu-system-x86_64")',
  hypervisor: 'expected one of "auto", "firecracker", "qemu"',
  bridge_name: 'expected a network interface name of 1-15 letters, digits, "-", "_" or "." such as "banger0"',
  bridge_subnet: 'expected an IPv4 network in CIDR form like "172.16.0.0/24"',
  catalog_url: 'expected an http://, https:// or file:// URL',
  kernel_catalog_url: 'expected an http://, https:// or file:// URL',
  debian_mirror: 'expected the http:// or https:// URL of a Debian mirror such as "http://deb.debian.org/debian"',
  debian_keyring: 'expected the path of an OpenPGP keyring ("/usr/share/keyrings/debian-archive-keyring.gpg")',
  dns_port: 'expected a port number from 1 to 65535',
  interrupted_create_expiry: 'expected a duration such as "30s", "90m", "24h" or "7d" (at least 1s)',
  warm_start: 'expected true or false',
  disk_spares: 'expected true or false',
  dns_upstreams: 'expected an array of DNS server addresses such as ["1.1.1.1", "192.0.2.53:5353", "[2001:db8::53]:53"]',
  vm_defaults: 'expected a table: [vm_defaults]',
  'vm_defaults.vcpu': `expected a whole number of vCPUs from ${LIMITS.vcpu.min} to ${LIMITS.vcpu.max}`,
  'vm_defaults.memory_mib': `expected a whole number of MiB from ${LIMITS.memoryMib.min} to ${LIMITS.memoryMib.max}`,
  'vm_defaults.disk_size': 'expected a size string from "1G" to "16T" such as "16G"',
  file_sync: 'expected an array of tables: write each entry under its own [[file_sync]] header',
  'file_sync.entry': 'expected a table with host and guest keys',
  'file_sync.host': 'expected a host path, absolute or starting with "~/"',
  'file_sync.guest': 'expected a guest path under "~/" or "/root/"',
  'file_sync.mode': 'expected an octal mode string such as "0644" or "0755"',
};

/** A custom zod issue carrying banger's own error code and hint. */
interface BangerIssueParams {
  bangerCode: ErrorCode;
  hint?: string;
}

type Ctx = z.RefinementCtx;

function report(ctx: Ctx, problem: Problem, bangerCode: ErrorCode = 'CONFIG_BAD_VALUE'): typeof z.NEVER {
  const params: BangerIssueParams = { bangerCode, ...(problem.hint ? { hint: problem.hint } : {}) };
  ctx.addIssue({ code: 'custom', message: problem.message, params });
  return z.NEVER;
}

// The field schemas are functions, built by configSchema(): constructing zod schemas at module
// load would cost every CLI start, and most never read a config file.

// Image and kernel names become directory names under the state dir: no '/', no '..', as the
// images and kernels libs name them.
const nameString = () =>
  z
    .string()
    .max(63)
    .regex(/^[a-z0-9][a-z0-9._-]*$/)
    .refine((name) => !name.includes('..'));

const url = () => z.string().refine((text) => {
  try {
    return ['http:', 'https:', 'file:'].includes(new URL(text).protocol);
  } catch {
    return false;
  }
});

const httpUrl = () => z.string().refine((text) => {
  try {
    return ['http:', 'https:'].includes(new URL(text).protocol);
  } catch {
    return false;
  }
});

/** `1.1.1.1`, `1.1.1.1:5353`, `::1`, `[::1]:5353`: what the DNS forwarder accepts as an upstream. */
function isUpstreamAddress(text: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(text);
  const [host, port] = bracketed ? [bracketed[1], bracketed[2]] : v4 ? [v4[1], v4[2]] : [text, undefined];
  return Boolean(host) && isIP(host!) !== 0 && (port === undefined || (Number(port) >= 1 && Number(port) <= 65535));
}

const modeString = () => z.string().superRefine((text, ctx) => {
  if (!/^0?[0-7]{3}$/.test(text)) {
    report(ctx, { message: ALLOWED['file_sync.mode']!, hint: 'permission bits only, e.g. mode = "0600"' }, 'CONFIG_BAD_MODE');
  }
});

/**
 * The zod schema of config.toml for a given home directory (used to expand
 * `~`). Output keys are still snake_case; `parseConfig` maps them to
 * `BangerConfig`.
 */
export function configSchema(home: string) {
  const hostPath = z.string().transform((text, ctx) => {
    const checked = checkHostPath(text, home);
    return 'path' in checked ? checked.path : report(ctx, checked.problem);
  });
  const binary = z.string().transform((text, ctx) => {
    const checked = checkBinary(text, home);
    return 'path' in checked ? checked.path : report(ctx, checked.problem);
  });
  const guestPath = z.string().transform((text, ctx) => {
    const checked = normalizeGuestPath(text);
    return 'path' in checked ? checked.path : report(ctx, checked.problem, 'CONFIG_BAD_GUEST_PATH');
  });

  return z.object({
    default_image_name: nameString().optional(),
    default_kernel_name: nameString().optional(),
    ssh_key_path: hostPath.optional(),
    firecracker_bin: binary.optional(),
    qemu_bin: binary.optional(),
    hypervisor: z.enum(['auto', 'firecracker', 'qemu']).optional(),
    bridge_name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,15}$/)
      .refine((name) => name !== '.' && name !== '..')
      .optional(),
    bridge_subnet: z
      .string()
      .superRefine((text, ctx) => {
        const problem = checkBridgeSubnet(text);
        if (problem) report(ctx, problem, 'CONFIG_BAD_SUBNET');
      })
      .optional(),
    catalog_url: url().optional(),
    kernel_catalog_url: url().optional(),
    debian_mirror: httpUrl().optional(),
    debian_keyring: hostPath.optional(),
    dns_port: z.number().int().min(1).max(65535).optional(),
    interrupted_create_expiry: z.string().regex(/^[1-9]\d{0,6}[smhd]$/).optional(),
    warm_start: z.boolean().optional(),
    disk_spares: z.boolean().optional(),
    dns_upstreams: z.array(z.string().refine(isUpstreamAddress)).min(1).max(8).optional(),
    vm_defaults: z
      .object({
        vcpu: z.number().int().min(LIMITS.vcpu.min).max(LIMITS.vcpu.max).optional(),
        memory_mib: z.number().int().min(LIMITS.memoryMib.min).max(LIMITS.memoryMib.max).optional(),
        disk_size: z
          .string()
          .superRefine((text, ctx) => {
            const bytes = trySize(text);
            if (bytes === undefined) {
              report(ctx, { message: ALLOWED['vm_defaults.disk_size']!, hint: 'units are K, M, G, T (binary), e.g. "16G"' });
            } else if (bytes < LIMITS.diskBytes.min || bytes > LIMITS.diskBytes.max) {
              const hint = /^\s*\d+\s*$/.test(text) ? `a bare number is bytes; did you mean "${text.trim()}M"?` : undefined;
              report(ctx, { message: 'expected a size from "1G" to "16T"', ...(hint ? { hint } : {}) });
            }
          })
          .optional(),
      })
      .optional(),
    file_sync: z
      .array(
        z.object({
          host: hostPath,
          guest: guestPath,
          mode: modeString().optional(),
        }),
      )
      .optional(),
  });
}

export type RawConfig = z.output<ReturnType<typeof configSchema>>;

/** Reads banger's own code and hint off a custom issue, if it has them. */
export function issueParams(issue: z.core.$ZodIssue): BangerIssueParams | undefined {
  if (issue.code !== 'custom') return undefined;
  const params = (issue as { params?: Partial<BangerIssueParams> }).params;
  return params?.bangerCode ? (params as BangerIssueParams) : undefined;
}
