import { createHash } from 'node:crypto';
import type { Response } from 'express';
import type { ApiSuccess, Generation } from '@imagegen/shared';

/** Sends a success in the envelope `{success, message, data}` of the original API, which its clients read. */
export function respond<T>(res: Response, status: number, message: string, data: T): void {
  const body: ApiSuccess<T> = { success: true, message, data };
  res.status(status).json(body);
}

/**
 * `respond` for a whole generation, whose `image_url` (once completed, the image as a data URL: a
 * megabyte or more) is put into the JSON text as it is rather than passed through JSON.stringify.
 * JSON.stringify scans every character of a string for what to escape: 10 ms for a 1 MB image's
 * data URL on a quiet 2-core machine, and 40% of the API's CPU in the benchmark's memory part,
 * where this copy takes about 1 ms (of a flat string; see GenerationMapper's `dataUrl`). Nothing in
 * a data URL needs escaping:
 * GenerationMapper.full makes it of a MIME type of ImageMeta's list and base64, whose alphabet
 * (A–Z, a–z, 0–9, +, / and =) JSON writes as it is. `image_url` is written last in `data`, which
 * JSON readers do not mind: keys have no order.
 */
export function respondGeneration(res: Response, status: number, message: string, generation: Generation): void {
  const { image_url: imageUrl, ...rest } = generation;
  const body: ApiSuccess<Omit<Generation, 'image_url'>> = { success: true, message, data: rest };
  // The text ends with the `}` of `data` and the envelope's own: `image_url` goes before them.
  const head = `${JSON.stringify(body).slice(0, -2)},"image_url":`;
  res
    .status(status)
    .set('Content-Type', 'application/json; charset=utf-8')
    .set('ETag', etagOf(head, imageUrl))
    .send(imageUrl === null ? `${head}null}}` : withImage(`${head}"`, imageUrl, '"}}'));
}

/**
 * `head`, the data URL and `tail` in one buffer, written in place: a buffer per piece joined by
 * Buffer.concat took four times as long (3 ms for a 1 MB image), allocating and copying the
 * image twice.
 */
function withImage(head: string, dataUrl: string, tail: string): Buffer {
  const headBytes = Buffer.byteLength(head);
  const text = Buffer.allocUnsafe(headBytes + dataUrl.length + tail.length);
  text.write(head, 0, 'utf8');
  text.write(dataUrl, headBytes, 'latin1');
  text.write(tail, headBytes + dataUrl.length, 'latin1');
  return text;
}

/**
 * A weak ETag of a generation's answer, made of its text without the image. Express's own would
 * hash the whole text, about 1 ms per answer of a 1 MB image. The image of a record's text is fixed:
 * the stored bytes change only with a new run, which changes the record (attempts, clocks, the
 * image's size), and the text names the image's size and type. The suffix is also what tells a
 * full answer's ETag from a minimal one's (`Prefer: return=minimal`), whose texts are otherwise
 * the same.
 */
function etagOf(head: string, imageUrl: string | null): string {
  const hash = createHash('sha1').update(head).digest('base64url').slice(0, 27);
  return `W/"${hash}-${imageUrl === null ? 'none' : imageUrl.length.toString(16)}"`;
}
