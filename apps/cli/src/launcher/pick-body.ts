/** One CLI body beside the launcher, as the build describes it. */
export interface BodyInfo {
  /** `banger-cli.cjs`, `banger-cli-vm.cjs`… */
  file: string;
  /** Names its code cache: `cli`, `cli-vm`… */
  name: string;
  /** The first 16 hex digits of the body's sha256. */
  hash: string;
  /** latin1 when the build found the body ASCII-only. */
  encoding: 'latin1' | 'utf8';
}

/** The bodies by the first word of the command line that selects them; '' is the whole CLI. */
export type BodyTable = Readonly<Record<string, BodyInfo>>;

/**
 * The body for a command line (process.argv form): the one holding only the
 * group its first word names (`banger vm list` reads and deserializes the vm
 * commands, not the image, kernel or doctor ones: issue #19), else the whole
 * CLI (help, `--version`, completion scripts, a typo that deserves a suggestion).
 */
export function bodyFor(bodies: BodyTable, argv: readonly string[]): BodyInfo {
  const word = argv[2];
  // Own keys only: `banger constructor` must not find Object.prototype's.
  if (word !== undefined && word !== '' && Object.hasOwn(bodies, word)) return bodies[word]!;
  return bodies['']!;
}
