/**
 * Best-effort line lookup for a key path in TOML text, so errors about a
 * key's value can say `config.toml:7:` like parse errors do. smol-toml keeps
 * no positions for parsed values, so this rescans the text: it follows
 * `[table]` and `[[array]]` headers and dotted keys, and falls back to the
 * line that opens an enclosing inline table. Returns a 1-based line or
 * undefined when the key cannot be pinned down.
 */
export function locateKey(text: string, path: ReadonlyArray<string | number>): number | undefined {
  const lines = text.split(/\r?\n/);
  let table: Array<string | number> = [];
  const arrayCounts = new Map<string, number>();
  let fallback: number | undefined;
  let inMultiline: string | undefined;

  for (const [index, raw] of lines.entries()) {
    const lineNo = index + 1;
    if (inMultiline) {
      if (raw.includes(inMultiline)) inMultiline = undefined;
      continue;
    }
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;

    const arrayHeader = /^\[\[\s*(.+?)\s*\]\]/.exec(line);
    const tableHeader = arrayHeader ? undefined : /^\[\s*(.+?)\s*\]/.exec(line);
    if (arrayHeader || tableHeader) {
      const parts = splitKey((arrayHeader ?? tableHeader)![1]!);
      if (!parts) return fallback;
      if (arrayHeader) {
        const id = parts.join('.');
        const n = arrayCounts.get(id) ?? 0;
        arrayCounts.set(id, n + 1);
        table = [...parts, n];
      } else {
        table = parts;
      }
      if (samePath(table, path) || (arrayHeader && samePath(parts, path))) return lineNo;
      // A missing key is best pinned to the header of the table that lacks it.
      if (isPrefix(table, path)) fallback = lineNo;
      continue;
    }

    const eq = findEquals(line);
    if (eq < 0) continue;
    const keyParts = splitKey(line.slice(0, eq));
    if (!keyParts) continue;
    const full = [...table, ...keyParts];
    if (samePath(full, path)) return lineNo;
    if (isPrefix(full, path)) fallback ??= lineNo;
    const rest = line.slice(eq + 1).trim();
    const quote = ['"""', "'''"].find((q) => rest.startsWith(q));
    if (quote && !rest.slice(3).includes(quote)) inMultiline = quote;
  }
  return fallback;
}

/** Splits `a."b.c".d` into ['a', 'b.c', 'd']; undefined when it is not a key. */
function splitKey(text: string): string[] | undefined {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(\.|$)/y;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    parts.push(m[1] ?? m[2] ?? m[3] ?? '');
    pos = re.lastIndex;
    if (m[4] === '') break;
  }
  return parts.length ? parts : undefined;
}

/** Index of the `=` that ends the key part, skipping quoted key segments. */
function findEquals(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '=') return i;
  }
  return -1;
}

function samePath(a: ReadonlyArray<string | number>, b: ReadonlyArray<string | number>): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}

function isPrefix(prefix: ReadonlyArray<string | number>, path: ReadonlyArray<string | number>): boolean {
  return prefix.length < path.length && prefix.every((part, i) => part === path[i]);
}
