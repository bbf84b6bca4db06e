/**
 * deb822 control data (Release, Packages): paragraphs of `Field: value`
 * lines separated by blank lines; a line starting with a space or tab
 * continues the previous field (multi-line fields keep their newlines).
 */
export type Paragraph = Map<string, string>;

export function parseParagraphs(text: string): Paragraph[] {
  const paragraphs: Paragraph[] = [];
  let current: Paragraph | undefined;
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (current) paragraphs.push(current);
      current = undefined;
      last = undefined;
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (current && last) current.set(last, `${current.get(last) ?? ''}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    current ??= new Map();
    last = line.slice(0, colon);
    current.set(last, line.slice(colon + 1).trim());
  }
  if (current) paragraphs.push(current);
  return paragraphs;
}

/** The first alternative's package names of a `Depends:` field (`a (>= 1) | b, c` → `a`, `c`). */
export function dependencyNames(depends: string | undefined): string[] {
  return (depends ?? '')
    .split(',')
    .map((group) => group.split('|')[0]!.trim().split(/[\s(:]/)[0]!)
    .filter(Boolean);
}
