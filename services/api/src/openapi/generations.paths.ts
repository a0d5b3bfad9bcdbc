import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  CreateGenerationRequest,
  Generation,
  GenerationPage,
  ImageMeta,
  ListGenerationsQuery,
  MAX_RUNS,
  StreamToken,
} from '@imagegen/shared';
import { CreateGenerationHeaders, EventsHeaders } from '../generations/generation.schemas';
import { IdParams } from '../http/id-params';
import { BEARER, STREAM_TOKEN } from './components';
import { BEARER_REFUSALS, BODY_REFUSALS, json, refusals, success } from './responses';

const tags = ['Generations'];
const security = [{ [BEARER]: [] }];
const BAD_ID = 'Not a generation id';
const NOT_FOUND = 'No such generation of yours';

/** What a create answers with, whether it waited or not. */
const CreatedHeaders = z.object({
  Location: z.string().meta({ description: 'The generation’s URL, `/api/generations/{id}`' }),
  'Idempotent-Replayed': z
    .literal('true')
    .optional()
    .meta({ description: 'An earlier request with this Idempotency-Key made the generation' }),
  'Preference-Applied': z.string().optional().meta({ description: '`wait=N`, when `Prefer: wait=N` was honoured' }),
});

const ImageHeaders = z.object({
  ETag: z.string().meta({ description: 'The generation id: an image never changes' }),
  'Cache-Control': z.string(),
});

const ConditionalHeaders = z.object({
  'if-none-match': z.string().optional().meta({ description: 'The ETag of a copy the client holds' }),
});

const EventStream = z.string().meta({
  description:
    'Server-Sent Events. Each event has an `event`: `status`, `notice` or `queue` (a pending ' +
    "generation's new place), and `data`: a GenerationEvent (#/components/schemas/GenerationEvent) as JSON; " +
    'each but `queue` has an `id` (send it back as Last-Event-ID to resume). ' +
    'The stream ends after the status that ends the generation; comment lines keep it open meanwhile.',
});

export function registerGenerationPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'post',
    path: '/api/generations',
    tags,
    security,
    summary: 'Create a generation',
    description:
      'Queues a text-to-image generation. With `Prefer: wait=N` the answer waits until it ends (200) or N seconds pass (202). ' +
      '`model` and `provider` are checked at once against what this deployment serves (`GET /api/models`): a model no ' +
      'provider serves here, or a provider that does not serve it, is refused with 422 naming the field.',
    request: {
      headers: CreateGenerationHeaders,
      body: { required: true, content: json(CreateGenerationRequest) },
    },
    responses: {
      200: success('Ended within the `Prefer: wait` time: completed, failed or canceled', Generation, CreatedHeaders),
      202: success('Queued: follow it at Location, or its event stream', Generation, CreatedHeaders),
      ...refusals({
        ...BODY_REFUSALS,
        ...BEARER_REFUSALS,
        409: 'A request with this Idempotency-Key is still being processed; retry shortly',
        422:
          'Not served here: `errors` names `model` or `provider` (a model no provider serves, a provider that does ' +
          'not serve it, OpenAI Images not configured); or this Idempotency-Key was used with a different request body',
        429: 'Too many creates in the window, or too many generations pending or processing',
        503:
          'A dependency (MongoDB, Redis, the webhook host’s DNS, the Hugging Face Hub’s model mapping) is unavailable: ' +
          'retry after Retry-After',
      }),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/api/generations',
    tags,
    security,
    summary: 'List your generations, newest first',
    request: { query: ListGenerationsQuery },
    responses: {
      200: success('A page; pass `next_cursor` as `cursor` for the next one', GenerationPage),
      ...refusals({ 400: 'A query parameter is invalid or unknown', ...BEARER_REFUSALS }),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/api/generations/{id}',
    tags,
    security,
    summary: 'Get a generation, with its image as a data URL once completed',
    request: { params: IdParams },
    responses: {
      200: success('The generation', Generation),
      ...refusals({ 400: BAD_ID, ...BEARER_REFUSALS, 404: NOT_FOUND }),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/api/generations/{id}/image',
    tags,
    security,
    summary: 'Get the image bytes of a completed generation',
    request: { params: IdParams, headers: ConditionalHeaders },
    responses: {
      200: {
        description: 'The image, in the format the model made it',
        headers: ImageHeaders,
        content: Object.fromEntries(ImageMeta.shape.mime_type.options.map((type) => [type, {}])),
      },
      304: { description: 'Not modified: If-None-Match named this image' },
      ...refusals({ 400: BAD_ID, ...BEARER_REFUSALS, 404: `${NOT_FOUND}, or it has no image (not completed)` }),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/generations/{id}/cancel',
    tags,
    security,
    summary: 'Cancel a pending or processing generation',
    request: { params: IdParams },
    responses: {
      200: success('Canceled', Generation),
      ...refusals({
        ...BODY_REFUSALS,
        400: BAD_ID,
        ...BEARER_REFUSALS,
        404: NOT_FOUND,
        409: 'The generation has ended already; the message names its status',
      }),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/generations/{id}/retry',
    tags,
    security,
    summary: 'Run a failed or canceled generation again',
    description:
      'A new run; the ended one is kept in `history`. A retry counts as a create: against the rate and ' +
      `the cap on generations in flight. A generation has at most ${MAX_RUNS} runs.`,
    request: { params: IdParams },
    responses: {
      202: success('Queued again', Generation),
      ...refusals({
        ...BODY_REFUSALS,
        400: BAD_ID,
        ...BEARER_REFUSALS,
        404: NOT_FOUND,
        409:
          `Only a failed or canceled generation can be retried; one with ${MAX_RUNS} runs cannot; ` +
          'or another retry of it is under way',
        429: 'Too many creates and retries in the window, or too many generations pending or processing',
      }),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/generations/{id}/events/token',
    tags,
    security,
    summary: 'Get a stream token for the event stream',
    description: 'EventSource cannot send an Authorization header: open `url`, which carries the token.',
    request: { params: IdParams },
    responses: {
      200: success('A token good for this generation’s events only, for a few minutes', StreamToken),
      ...refusals({ ...BODY_REFUSALS, 400: BAD_ID, ...BEARER_REFUSALS, 404: NOT_FOUND }),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/api/generations/{id}/events',
    tags,
    // Either one: a bearer token, or a stream token in `?token=`.
    security: [...security, { [STREAM_TOKEN]: [] }],
    summary: 'Follow a generation live (Server-Sent Events)',
    request: { params: IdParams, headers: EventsHeaders },
    responses: {
      200: { description: 'The event stream', content: { 'text/event-stream': { schema: EventStream } } },
      204: { description: 'Last-Event-ID was the stream’s end already: stop reconnecting' },
      ...refusals({
        400: `${BAD_ID}, a malformed Last-Event-ID, or an unknown query parameter`,
        401: 'No valid bearer token, nor a stream token of this generation',
        404: NOT_FOUND,
        429: 'Too many event streams open: yours (EVENTS_STREAMS_PER_USER), or this server’s',
        503: true,
      }),
    },
  });
}
