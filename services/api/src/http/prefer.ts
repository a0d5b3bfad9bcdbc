/**
 * The preferences of a `Prefer` header (RFC 7240), by name in lower case, each with its value (''
 * for a name alone). Preferences are separated by commas and a preference's parameters by
 * semicolons (parameters are dropped: no preference we honour has any). A name compares without
 * regard to case, a value may be quoted, `=` may have spaces around it, and of a name given twice
 * the first counts, as the RFC asks. A comma or semicolon inside quotes separates nothing.
 */
export function parsePrefer(header: string | undefined): Map<string, string> {
  const preferences = new Map<string, string>();
  for (const item of outsideQuotes(header ?? '', ',')) {
    const [preference = ''] = outsideQuotes(item, ';');
    const equals = preference.indexOf('=');
    const name = (equals < 0 ? preference : preference.slice(0, equals)).trim().toLowerCase();
    if (!name || preferences.has(name)) continue;
    preferences.set(name, equals < 0 ? '' : unquoted(preference.slice(equals + 1).trim()));
  }
  return preferences;
}

/** `text` cut at each `separator` that is not inside a quoted string. */
function outsideQuotes(text: string, separator: ',' | ';'): string[] {
  const pieces: string[] = [];
  let piece = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted && char === '\\' && i + 1 < text.length) {
      piece += char + text[++i]!;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char === separator && !quoted) {
      pieces.push(piece);
      piece = '';
    } else {
      piece += char;
    }
  }
  pieces.push(piece);
  return pieces;
}

/** A quoted string's content, its `\x` escapes undone; any other value as it is. */
function unquoted(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"')
    ? value.slice(1, -1).replace(/\\(.)/g, '$1')
    : value;
}
