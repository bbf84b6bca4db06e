/** What `openSshArgs` needs to build an OpenSSH command line. */
export interface OpenSshArgsOptions {
  /** Guest address (IP or `<vm>.vm`). */
  host: string;
  /** banger's private key file. */
  keyPath: string;
  /** banger's pinned known_hosts file. */
  knownHostsPath: string;
  /** Default `root`. */
  user?: string;
  port?: number;
  /**
   * The VM's name: the host key is then checked against the `<vm>.vm` pin
   * whatever address is dialled (HostKeyAlias). Without it, against `host`.
   */
  vmName?: string;
  /** true forces a pty (`-t`, interactive); false forbids one (`-T`, byte-exact pipes). */
  tty?: boolean;
  /**
   * The remote command. A string goes to the guest's shell as written; an
   * array is an argv whose words are quoted so they arrive unchanged.
   */
  command?: string | readonly string[];
  /** Extra `-o Key=Value` settings, e.g. `ServerAliveInterval=15`. */
  extraOptions?: readonly string[];
}

/**
 * Arguments for the system `ssh` client (used by `vm ssh` and interactive
 * `vm run`, where a real terminal matters): banger's key only, the pinned
 * known_hosts only, strict host-key checking, no host-key learning.
 */
export function openSshArgs(options: OpenSshArgsOptions): string[] {
  const alias = options.vmName ? `${options.vmName}.vm` : options.host;
  const settings = [
    'IdentitiesOnly=yes',
    `UserKnownHostsFile=${options.knownHostsPath}`,
    'GlobalKnownHostsFile=/dev/null',
    'StrictHostKeyChecking=yes',
    `HostKeyAlias=${alias}`,
    'UpdateHostKeys=no',
    'PasswordAuthentication=no',
    'KbdInteractiveAuthentication=no',
    'LogLevel=ERROR',
    ...(options.extraOptions ?? []),
  ];
  const args = ['-i', options.keyPath, '-F', '/dev/null'];
  for (const setting of settings) args.push('-o', setting);
  if (options.port !== undefined && options.port !== 22) args.push('-p', String(options.port));
  if (options.tty === true) args.push('-t');
  if (options.tty === false) args.push('-T');
  // `-l` keeps a user name from being parsed as part of the host, and `--`
  // keeps a host starting with "-" from being parsed as an option.
  args.push('-l', options.user ?? 'root', '--', options.host);
  if (options.command !== undefined) {
    args.push(typeof options.command === 'string' ? options.command : options.command.map(shellQuote).join(' '));
  }
  return args;
}

/** Quotes one word for a POSIX shell: `it's` → `'it'\''s'`. Plain words stay as they are. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
