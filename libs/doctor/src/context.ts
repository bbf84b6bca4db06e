import type { BangerConfig, BangerPaths } from '@banger/config';
import type { DoctorEnv } from './env.js';
import type { CheckOutcome, DoctorHypervisor } from './types.js';

/** What /dev/kvm looks like on this host; computed once and shared by the kvm and hypervisor checks. */
export interface KvmFinding {
  usable: boolean;
  /** Why KVM cannot run guests, in the words `selectHypervisor` puts into its reason; undefined when it can. */
  problem?: string;
  outcome: CheckOutcome;
}

/** Shared inputs of every check; the memoised probes run at most once per doctor run. */
export interface CheckContext {
  config: BangerConfig;
  paths: BangerPaths;
  env: DoctorEnv;
  kvm(): Promise<KvmFinding>;
  hypervisor(): Promise<DoctorHypervisor>;
}

/** Wraps an async function so concurrent callers share one run. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => (promise ??= fn());
}

/** The last non-empty line of a command's output: usually the one that says why. */
export function lastLine(text: string): string {
  return (
    text
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .at(-1) ?? ''
  );
}

/** The first dotted version number in a tool's version output. */
export function versionIn(text: string): string | undefined {
  return /(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}
