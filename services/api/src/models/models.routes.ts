import { Router } from 'express';
import type { ModelList } from '@imagegen/shared';
import { respond } from '../http/respond';
import type { ModelCatalog } from './model-catalog';

/** `/api/models`: the models a user may ask for here, with the providers that serve each. */
export function modelRoutes(catalog: ModelCatalog): Router {
  const router = Router();
  router.get('/', async (_req, res) => {
    respond<ModelList>(res, 200, 'Models', await catalog.list());
  });
  return router;
}
