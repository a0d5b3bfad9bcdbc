import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { IMAGE_FORMATS, ImageMeta, MAX_RUNS, THUMBNAIL_WIDTHS } from '@imagegen/shared';
import { BEARER_REFUSALS, refusals } from '../openapi/responses';

// What the OpenAPI document says of the generation routes beyond their schemas: the headers they
// answer with, the event stream, and the longer descriptions.

export const BAD_ID = 'Not a generation id';
export const NOT_FOUND = 'No such generation of yours';

/** The answer depends on `Prefer`; with CORS for a list of origins, on `Origin` too. */
const VARY = z
  .string()
  .meta({ description: 'Names `Prefer` (`return=minimal`), and `Origin` when CORS answers for a list of origins' });

/** What a create answers with, whether it waited or not. */
export const CreatedHeaders = z.object({
  Location: z.string().meta({ description: 'The generation’s URL, `/api/generations/{id}`' }),
  'Idempotent-Replayed': z
    .literal('true')
    .optional()
    .meta({ description: 'An earlier request with this Idempotency-Key made the generation' }),
  'Preference-Applied': z.string().optional().meta({
    description: '`wait=N` when `Prefer: wait=N` was honoured, `return=minimal` when that was; comma-separated',
  }),
  Vary: VARY,
});

/** What `GET /api/generations/{id}` answers with. */
export const GenerationAnswerHeaders = z.object({
  'Preference-Applied': z
    .literal('return=minimal')
    .optional()
    .meta({ description: 'When `Prefer: return=minimal` was honoured: `image_url` is null' }),
  Vary: VARY,
});

export const ImageHeaders = z.object({
  ETag: z.string().meta({
    description:
      'The generation id, then the image index and rendition for any but the first image as sent ' +
      '(`"{id}.0.w256.webp"`): an image never changes. Weak (`W/`) for a full-size format conversion, made anew each time',
  }),
  'Cache-Control': z.string(),
  'Accept-Ranges': z.enum(['bytes', 'none']).meta({
    description: '`none` for a thumbnail or a format conversion, which is always sent whole',
  }),
  'Content-Range': z.string().optional().meta({ description: 'On a 206: `bytes start-end/size`' }),
});

export const ImageRequestHeaders = z.object({
  'if-none-match': z.string().optional().meta({ description: 'The ETag of a copy the client holds' }),
  range: z.string().optional().meta({
    description: 'One byte range, `bytes=start-end`, `bytes=start-` or `bytes=-suffix`; several get the whole image',
  }),
});

const RENDITIONS =
  'Without a query: the bytes exactly as the provider sent them, streamed from wherever images are kept ' +
  `(MongoDB or an S3 bucket). \`?width=${THUMBNAIL_WIDTHS.join('|')}\`: a thumbnail, WebP unless \`format\` ` +
  'says otherwise, at most that wide with the aspect ratio kept (a narrower image is not enlarged); made on ' +
  'the first request, then kept in the image store and served from there, until the generation is deleted ' +
  `or its images expire. \`?format=${Object.keys(IMAGE_FORMATS).join('|')}\`: the full-size image converted on ` +
  'the way out, or sent as it is when it has that format already.';

const PRESIGNED =
  'With IMAGE_URLS=presigned, `urls.image` and each `images[].url` of a completed generation are presigned ' +
  'URLs on the bucket, for the images as sent; thumbnails and conversions are served by this route only.';

export const IMAGE_DESCRIPTION = `The first image, as \`/images/0\`. ${RENDITIONS} ${PRESIGNED}`;

export const IMAGES_DESCRIPTION = `Image \`index\` of \`images\` (0 is the first). ${RENDITIONS} ${PRESIGNED}`;

export const IMAGE_QUERY_400 =
  'A query parameter is invalid or unknown: `errors` names it (`query.width`, `query.format`) with the allowed values';

/** The answers of the image routes; `notFound`: when there is no such image. */
export function imageResponses(notFound: string, badParams: string): RouteConfig['responses'] {
  return {
    200: {
      description: 'The image: as the model made it, or the thumbnail or format asked for',
      headers: ImageHeaders,
      content: Object.fromEntries(ImageMeta.shape.mime_type.options.map((type) => [type, {}])),
    },
    206: {
      description: 'The range of bytes the `Range` header asked for (never of a rendition)',
      headers: ImageHeaders,
    },
    304: { description: 'Not modified: If-None-Match named this image' },
    ...refusals({
      400: `${badParams}; or ${IMAGE_QUERY_400}`,
      ...BEARER_REFUSALS,
      404: notFound,
      410: 'The image was removed after the retention period (RETENTION_IMAGES_DAYS); the record remains',
      416: 'The `Range` asks for bytes past the end of the image',
    }),
  };
}

export const EventStream = z.string().meta({
  description:
    'Server-Sent Events. Each event has an `event`: `status`, `notice` or `queue` (a pending ' +
    "generation's new place), and `data`: a GenerationEvent (#/components/schemas/GenerationEvent) as JSON; " +
    'each but `queue` has an `id` (send it back as Last-Event-ID to resume). ' +
    'The stream ends after the status that ends the generation; comment lines keep it open meanwhile.',
});

export const CREATE_DESCRIPTION =
  'Queues a text-to-image generation. With `Prefer: wait=N` the answer waits until it ends (200) or N seconds pass (202); ' +
  'with `Prefer: respond-async` it is 202 at once; with neither, the deployment waits CREATE_WAIT_SECONDS (0 by default). ' +
  '`model` and `provider` are checked at once against what this deployment serves (`GET /api/models`): a model no ' +
  'provider serves here, or a provider that does not serve it, is refused with 422 naming the field.';

export const CREATE_REFUSALS = {
  409: 'A request with this Idempotency-Key is still being processed; retry shortly',
  422:
    'Not served here: `errors` names `model` or `provider` (a model no provider serves, a provider that does ' +
    'not serve it, OpenAI Images not configured); or this Idempotency-Key was used with a different request body',
  429: 'Too many creates in the window, too many generations pending or processing, or past the daily or monthly image quota (the message says which, and when it resets)',
  503:
    'A dependency (MongoDB, Redis, the webhook host’s DNS, the Hugging Face Hub’s model mapping) is unavailable: ' +
    'retry after Retry-After',
} as const;

export const RETRY_DESCRIPTION =
  'A new run; the ended one is kept in `history`. A retry counts as a create: against the rate and ' +
  `the cap on generations in flight. A generation has at most ${MAX_RUNS} runs.`;

export const RETRY_409 =
  `Only a failed or canceled generation can be retried; one with ${MAX_RUNS} runs cannot; ` +
  'or another retry of it is under way';

export const DELETE_DESCRIPTION =
  'Deletes the generation for good: its record, its image, its event stream, its webhook log and its ' +
  'jobs. One still pending or processing is canceled first, so its job stops and no image is kept. ' +
  'A presigned image URL handed out before stops working once the image is gone.';
