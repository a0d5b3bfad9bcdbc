import { z } from 'zod';
import { IMAGE_FORMATS, THUMBNAIL_WIDTHS, type ImageFormat, type ThumbnailWidth } from '@imagegen/shared';
import { IdParams } from '../http/id-params';

const formats = Object.keys(IMAGE_FORMATS) as [ImageFormat, ...ImageFormat[]];
const widths = THUMBNAIL_WIDTHS.map(String) as [`${ThumbnailWidth}`, ...Array<`${ThumbnailWidth}`>];

/** `:id/images/:index`: which generation, and which of its images (0 is the first). */
export const ImageParams = IdParams.extend({
  index: z
    .string()
    .regex(/^\d+$/, 'must be a whole number ≥ 0 (0 is the first image)')
    .transform(Number)
    .meta({ description: 'Which image: 0 is the first', example: '0' }),
});
export type ImageParams = z.infer<typeof ImageParams>;

/**
 * The query of the image routes. Exact strings only (no `0x100`, no `256.0`): each value names one
 * stored rendition. Values are listed in the messages, so a client sees what it may ask.
 */
export const ImageQuery = z.strictObject({
  width: z
    .enum(widths, { error: `must be one of ${THUMBNAIL_WIDTHS.join(', ')}` })
    .transform((width) => Number(width) as ThumbnailWidth)
    .optional()
    .meta({
      description:
        'A thumbnail at most this many pixels wide (aspect ratio kept, never enlarged), as WebP unless `format` says otherwise',
    }),
  format: z
    .enum(formats, { error: `must be one of ${formats.join(', ')}` })
    .optional()
    .meta({ description: 'The format to answer in; the image as the provider made it when it is that format already' }),
});
export type ImageQuery = z.infer<typeof ImageQuery>;
