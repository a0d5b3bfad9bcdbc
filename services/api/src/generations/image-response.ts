import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { AppError } from '../errors';
import type { GenerationService } from './generation.service';
import { imageRange } from './image-range';
import { etagOf, mimeTypeOf, type ServedImage } from './image-renditions';

/**
 * Answers with one image of a generation: its validator and year-long caching (an image never
 * changes), 304 when the client holds it, and a `Range` of the original's bytes. A rendition is
 * small or made whole, so it is always sent whole (`Accept-Ranges: none`).
 */
export async function sendImage(
  service: GenerationService,
  image: ServedImage,
  req: Request,
  res: Response,
): Promise<void> {
  res.set({
    ETag: etagOf(image),
    'Cache-Control': 'private, max-age=31536000, immutable',
    'Content-Type': mimeTypeOf(image),
    'Accept-Ranges': image.rendition ? 'none' : 'bytes',
  });
  // Before any bytes are read or made: a client holding this image costs no store read and no sharp.
  if (req.fresh) {
    res.status(304).end();
    return;
  }
  const size = image.original.size_bytes;
  const range = image.rendition ? null : imageRange(req.range(size, { combine: true }), size);
  if (range === 'unsatisfiable') {
    res.set('Content-Range', `bytes */${size}`);
    throw new AppError(416, `The Range asks for bytes past the end of the image (${size} bytes)`);
  }
  const body = await service.imageBytes(image, range ?? undefined);
  if (range) res.status(206).set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
  res.set('Content-Length', String(body.length));
  await pipeline(body.stream, res);
}
