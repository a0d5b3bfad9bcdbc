import { z } from 'zod';
import { MAX_RUNS } from '@imagegen/shared';

// What the OpenAPI document says of the generation routes beyond their schemas: the headers they
// answer with, the event stream, and the longer descriptions.

export const BAD_ID = 'Not a generation id';
export const NOT_FOUND = 'No such generation of yours';

/** What a create answers with, whether it waited or not. */
export const CreatedHeaders = z.object({
  Location: z.string().meta({ description: 'The generation’s URL, `/api/generations/{id}`' }),
  'Idempotent-Replayed': z
    .literal('true')
    .optional()
    .meta({ description: 'An earlier request with this Idempotency-Key made the generation' }),
  'Preference-Applied': z.string().optional().meta({ description: '`wait=N`, when `Prefer: wait=N` was honoured' }),
});

export const ImageHeaders = z.object({
  ETag: z.string().meta({ description: 'The generation id: an image never changes' }),
  'Cache-Control': z.string(),
  'Accept-Ranges': z.literal('bytes'),
  'Content-Range': z.string().optional().meta({ description: 'On a 206: `bytes start-end/size`' }),
});

export const ImageRequestHeaders = z.object({
  'if-none-match': z.string().optional().meta({ description: 'The ETag of a copy the client holds' }),
  range: z.string().optional().meta({
    description: 'One byte range, `bytes=start-end`, `bytes=start-` or `bytes=-suffix`; several get the whole image',
  }),
});

export const IMAGE_DESCRIPTION =
  'Streams the bytes from wherever images are kept (MongoDB or an S3 bucket). With IMAGE_URLS=presigned, ' +
  '`urls.image` of a generation points at the bucket instead, and clients need not come here.';

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
  429: 'Too many creates in the window, or too many generations pending or processing',
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
