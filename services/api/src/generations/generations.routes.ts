import { Router } from 'express';
import { CreateGenerationRequest, ListGenerationsQuery, isTerminal, type StreamToken } from '@imagegen/shared';
import { authOf } from '../http/authenticate';
import { IdParams } from '../http/id-params';
import { respond } from '../http/respond';
import { validate } from '../http/validate';
import type { TokenService } from '../auth/token.service';
import { CreateGenerationHeaders } from './generation.schemas';
import type { GenerationService } from './generation.service';
import type { GenerationStreams } from './generation-streams';

/** How long a stream token opens its generation's events for. */
const STREAM_TOKEN_TTL_SECONDS = 300;

export function generationRoutes(service: GenerationService, streams: GenerationStreams, tokens: TokenService): Router {
  const router = Router();

  router.post(
    '/',
    validate('headers', CreateGenerationHeaders),
    validate('body', CreateGenerationRequest),
    async (req, res) => {
      const userId = authOf(res.locals).sub;
      const headers = res.locals.headers as CreateGenerationHeaders;
      const created = await service.create(
        userId,
        res.locals.body as CreateGenerationRequest,
        headers['idempotency-key'],
      );
      let generation = created.generation;
      if (headers.prefer > 0) {
        res.set('Preference-Applied', `wait=${headers.prefer}`);
        const gone = new AbortController();
        res.on('close', () => gone.abort());
        await streams.waitForEnd(
          generation.id,
          headers.prefer * 1000,
          () => service.owned(userId, generation.id).catch(() => null),
          gone.signal,
        );
        generation = await service.get(userId, generation.id);
      }
      res.location(`${req.baseUrl}/${generation.id}`);
      if (created.replayed) res.set('Idempotent-Replayed', 'true');
      const ended = isTerminal(generation.status);
      respond(res, ended ? 200 : 202, ended ? `Generation ${generation.status}` : 'Generation queued', generation);
    },
  );

  router.post('/:id/cancel', validate('params', IdParams), async (_req, res) => {
    const { id } = res.locals.params as IdParams;
    respond(res, 200, 'Generation canceled', await service.cancel(authOf(res.locals).sub, id));
  });

  router.post('/:id/retry', validate('params', IdParams), async (_req, res) => {
    const { id } = res.locals.params as IdParams;
    respond(res, 202, 'Generation queued again', await service.retry(authOf(res.locals).sub, id));
  });

  /** A short-lived token for `EventSource`, which cannot send an Authorization header. */
  router.post('/:id/events/token', validate('params', IdParams), async (_req, res) => {
    const { id } = res.locals.params as IdParams;
    const claims = authOf(res.locals);
    const generation = await service.get(claims.sub, id);
    const token = tokens.sign(claims.sub, claims.role, { ttlSeconds: STREAM_TOKEN_TTL_SECONDS, eventsOf: id });
    const url = `${generation.urls.events}?token=${encodeURIComponent(token)}`;
    respond<StreamToken>(res, 200, 'Stream token', { token, expires_in: STREAM_TOKEN_TTL_SECONDS, url });
  });

  router.get('/', validate('query', ListGenerationsQuery), async (_req, res) => {
    const page = await service.list(authOf(res.locals).sub, res.locals.query as ListGenerationsQuery);
    respond(res, 200, 'Generations', page);
  });

  router.get('/:id', validate('params', IdParams), async (_req, res) => {
    const { id } = res.locals.params as IdParams;
    respond(res, 200, 'Generation', await service.get(authOf(res.locals).sub, id));
  });

  router.get('/:id/image', validate('params', IdParams), async (req, res) => {
    const { id } = res.locals.params as IdParams;
    const image = await service.image(authOf(res.locals).sub, id);
    // The bytes of a generation never change, so its id is a strong validator.
    const etag = `"${id}"`;
    res.set({ ETag: etag, 'Cache-Control': 'private, max-age=31536000, immutable', 'Content-Type': image.mime_type });
    if (req.fresh) {
      res.status(304).end();
      return;
    }
    res.send(Buffer.from(image.data.buffer));
  });

  return router;
}
