import { Router } from 'express';
import { CreateGenerationRequest, ListGenerationsQuery } from '@imagegen/shared';
import { authOf } from '../http/authenticate';
import { IdParams } from '../http/id-params';
import { respond } from '../http/respond';
import { validate } from '../http/validate';
import type { GenerationService } from './generation.service';

export function generationRoutes(service: GenerationService): Router {
  const router = Router();

  router.post('/', validate('body', CreateGenerationRequest), async (req, res) => {
    const generation = await service.create(authOf(res.locals).sub, res.locals.body as CreateGenerationRequest);
    res.location(`${req.baseUrl}/${generation.id}`);
    respond(res, 202, 'Generation queued', generation);
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
