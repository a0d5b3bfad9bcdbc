import type { ByteRange } from '@imagegen/core';

/** What Express's `req.range()` gives: -1 unsatisfiable, -2 malformed, else the ranges asked for. */
type ParsedRanges = number | (ByteRange[] & { type: string }) | undefined;

/**
 * The one byte range to serve, from `req.range(size, {combine: true})`: null serves the whole
 * image (no Range header, a malformed one, another unit, or several ranges, which RFC 9110 lets a
 * server answer with the whole representation instead of a multipart body).
 */
export function imageRange(parsed: ParsedRanges, size: number): ByteRange | null | 'unsatisfiable' {
  if (parsed === -1) return 'unsatisfiable';
  if (
    parsed === undefined ||
    typeof parsed === 'number' ||
    parsed.type.toLowerCase() !== 'bytes' ||
    parsed.length !== 1
  )
    return null;
  const [range] = parsed;
  if (!range || (range.start === 0 && range.end === size - 1)) return null;
  return range;
}
