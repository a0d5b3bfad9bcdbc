import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Response } from 'express';
import {
  CreateGenerationRequest,
  Generation,
  GenerationPage,
  ListGenerationsQuery,
  StreamToken,
  isTerminal,
} from '@imagegen/shared';
import type { TokenService } from '../auth/token.service';
import type { AuthGuard } from '../http/auth';
import { IdParams } from '../http/id-params';
import { respond, respondGeneration } from '../http/respond';
import { RouteTable } from '../http/route';
import { BEARER_REFUSALS, BODY_REFUSALS, refusals, success } from '../openapi/responses';
import * as doc from './generation.openapi';
import { appliedPreferences, CreateGenerationHeaders, GetGenerationHeaders } from './generation.schemas';
import type { GenerationDeletionService } from './generation-deletion.service';
import type { GenerationService } from './generation.service';
import type { GenerationWaitService } from './generation-wait.service';
import { ImageParams, ImageQuery } from './image-query';
import { sendImage } from './image-response';

/** How long a stream token opens its generation's events for. */
const STREAM_TOKEN_TTL_SECONDS = 300;

export interface GenerationRouteDeps {
  service: GenerationService;
  deletions: GenerationDeletionService;
  waits: GenerationWaitService;
  tokens: TokenService;
}

/** `/api/generations`: a user's generations (their event stream is `generationEventRoutes`). */
export function generationRoutes(docs: OpenAPIRegistry, user: AuthGuard, deps: GenerationRouteDeps): RouteTable<true> {
  const { service, deletions, waits, tokens } = deps;
  const routes = RouteTable.guarded(docs, '/api/generations', 'Generations', user);

  routes.post('/', {
    summary: 'Create a generation',
    description: doc.CREATE_DESCRIPTION,
    headers: CreateGenerationHeaders,
    body: CreateGenerationRequest,
    responses: {
      200: success(
        'Ended within the `Prefer: wait` time: completed, failed or canceled',
        Generation,
        doc.CreatedHeaders,
      ),
      202: success('Queued: follow it at Location, or its event stream', Generation, doc.CreatedHeaders),
      ...refusals({ ...BODY_REFUSALS, ...BEARER_REFUSALS, ...doc.CREATE_REFUSALS }),
    },
    handler: async (request) => {
      const { headers, auth, req, res } = request;
      const { prefer } = headers;
      const gone = new AbortController();
      // Only a wait has anyone to tell; an abort makes a DOMException, which every answer would pay.
      if (waits.secondsFor(prefer.wait) > 0) res.on('close', () => gone.abort());
      const { generation, replayed } = await waits.create(auth.sub, request.body, {
        idempotencyKey: headers['idempotency-key'],
        waitSeconds: prefer.wait,
        representation: prefer.representation,
        signal: gone.signal,
      });
      applyPreferences(res, appliedPreferences(prefer));
      res.location(`${req.baseUrl}/${generation.id}`);
      if (replayed) res.set('Idempotent-Replayed', 'true');
      const ended = isTerminal(generation.status);
      respondGeneration(
        res,
        ended ? 200 : 202,
        ended ? `Generation ${generation.status}` : 'Generation queued',
        generation,
      );
    },
  });

  routes.get('/', {
    summary: 'List your generations, newest first',
    query: ListGenerationsQuery,
    responses: {
      200: success('A page; pass `next_cursor` as `cursor` for the next one', GenerationPage),
      ...refusals({ 400: 'A query parameter is invalid or unknown', ...BEARER_REFUSALS }),
    },
    handler: async ({ query, auth, res }) => respond(res, 200, 'Generations', await service.list(auth.sub, query)),
  });

  routes.get('/:id', {
    summary: 'Get a generation, with its image as a data URL once completed (unless `Prefer: return=minimal`)',
    params: IdParams,
    headers: GetGenerationHeaders,
    responses: {
      200: success('The generation', Generation, doc.GenerationAnswerHeaders),
      ...refusals({ 400: doc.BAD_ID, ...BEARER_REFUSALS, 404: doc.NOT_FOUND }),
    },
    handler: async ({ params, headers, auth, res }) => {
      const generation = await service.get(auth.sub, params.id, headers.prefer.representation);
      applyPreferences(res, appliedPreferences(headers.prefer));
      respondGeneration(res, 200, 'Generation', generation);
    },
  });

  routes.get('/:id/image', {
    summary: 'Get the first image of a completed generation',
    description: doc.IMAGE_DESCRIPTION,
    params: IdParams,
    query: ImageQuery,
    headers: doc.ImageRequestHeaders,
    responses: doc.imageResponses(`${doc.NOT_FOUND}, or it has no image (not completed, or deleted)`, doc.BAD_ID),
    handler: async ({ params, query, auth, req, res }) => {
      await sendImage(service, await service.imageOf(auth.sub, params.id, query), req, res);
    },
  });

  routes.get('/:id/images/:index', {
    summary: 'Get one image of a completed generation',
    description: doc.IMAGES_DESCRIPTION,
    params: ImageParams,
    query: ImageQuery,
    headers: doc.ImageRequestHeaders,
    responses: doc.imageResponses(
      `${doc.NOT_FOUND}, or it has no image \`index\` (the message says how many it has), or none at all (not completed, or deleted)`,
      `${doc.BAD_ID}, or \`index\` is not a whole number`,
    ),
    handler: async ({ params, query, auth, req, res }) => {
      const image = await service.imageOf(auth.sub, params.id, { ...query, index: params.index });
      await sendImage(service, image, req, res);
    },
  });

  routes.post('/:id/cancel', {
    summary: 'Cancel a pending or processing generation',
    params: IdParams,
    responses: {
      200: success('Canceled', Generation),
      ...refusals({
        ...BODY_REFUSALS,
        400: doc.BAD_ID,
        ...BEARER_REFUSALS,
        404: doc.NOT_FOUND,
        409: 'The generation has ended already; the message names its status',
      }),
    },
    handler: async ({ params, auth, res }) => {
      respondGeneration(res, 200, 'Generation canceled', await service.cancel(auth.sub, params.id));
    },
  });

  routes.post('/:id/retry', {
    summary: 'Run a failed or canceled generation again',
    description: doc.RETRY_DESCRIPTION,
    params: IdParams,
    responses: {
      202: success('Queued again', Generation),
      ...refusals({
        ...BODY_REFUSALS,
        400: doc.BAD_ID,
        ...BEARER_REFUSALS,
        404: doc.NOT_FOUND,
        409: doc.RETRY_409,
        429: 'Too many creates and retries in the window, too many generations pending or processing, or past an image quota',
      }),
    },
    handler: async ({ params, auth, res }) => {
      respondGeneration(res, 202, 'Generation queued again', await service.retry(auth.sub, params.id));
    },
  });

  routes.delete('/:id', {
    summary: 'Delete a generation',
    description: doc.DELETE_DESCRIPTION,
    params: IdParams,
    responses: {
      204: { description: 'Deleted, with its image, events, webhook log and jobs' },
      ...refusals({ 400: doc.BAD_ID, ...BEARER_REFUSALS, 404: doc.NOT_FOUND }),
    },
    handler: async ({ params, auth, res }) => {
      await deletions.delete(auth.sub, params.id);
      res.status(204).end();
    },
  });

  // EventSource cannot send an Authorization header: a short-lived token it can carry in the URL.
  routes.post('/:id/events/token', {
    summary: 'Get a stream token for the event stream',
    description: 'EventSource cannot send an Authorization header: open `url`, which carries the token.',
    params: IdParams,
    responses: {
      200: success('A token good for this generation’s events only, for a few minutes', StreamToken),
      ...refusals({ ...BODY_REFUSALS, 400: doc.BAD_ID, ...BEARER_REFUSALS, 404: doc.NOT_FOUND }),
    },
    handler: async ({ params, auth, res }) => {
      // Only its URLs are needed: not its image's bytes.
      const generation = await service.get(auth.sub, params.id, 'minimal');
      const token = tokens.sign(auth.sub, auth.role, { ttlSeconds: STREAM_TOKEN_TTL_SECONDS, eventsOf: params.id });
      const url = `${generation.urls.events}?token=${encodeURIComponent(token)}`;
      respond<StreamToken>(res, 200, 'Stream token', { token, expires_in: STREAM_TOKEN_TTL_SECONDS, url });
    },
  });

  return routes;
}

/**
 * `Preference-Applied`, and `Vary: Prefer` on every answer of a route that honours preferences: a
 * cache must not answer a `return=minimal` request with a full record, or the reverse.
 */
function applyPreferences(res: Response, applied: string | undefined): void {
  res.vary('Prefer');
  if (applied) res.set('Preference-Applied', applied);
}
