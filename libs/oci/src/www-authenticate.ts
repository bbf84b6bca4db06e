/** One challenge from a `WWW-Authenticate` header: the scheme and its auth-params. */
export interface AuthChallenge {
  /** Lowercased scheme: `bearer` or `basic` (others are kept but banger cannot answer them). */
  scheme: string;
  /** Parameters with lowercased keys: `realm`, `service`, `scope`, `error`… */
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header value (RFC 7235) into its challenges.
 * Quoted values may hold commas and escaped quotes; several challenges may
 * share one header (`Basic realm="x", Bearer realm="y",scope="a,b"`).
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpaces = () => {
    while (i < n && /[\s,]/.test(header[i]!)) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    skipSpaces();
    const scheme = readToken();
    if (!scheme) {
      i++; // skip a stray character rather than loop forever
      continue;
    }
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    // auth-params: key=value pairs until the next bare token (the next scheme)
    for (;;) {
      while (i < n && /[\s,]/.test(header[i]!)) i++;
      const save = i;
      const key = readToken();
      while (i < n && header[i] === ' ') i++;
      if (!key || header[i] !== '=') {
        i = save;
        break;
      }
      i++; // '='
      while (i < n && header[i] === ' ') i++;
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < n && header[i] !== ',' && !/\s/.test(header[i]!)) i++;
        value = header.slice(start, i);
      }
      challenge.params[key.toLowerCase()] = value;
    }
  }
  return challenges;
}
