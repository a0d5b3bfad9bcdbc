import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { ModelList } from '@imagegen/shared';
import type { AuthGuard } from '../http/auth';
import { respond } from '../http/respond';
import { RouteTable } from '../http/route';
import { BEARER_REFUSALS, refusals, success } from '../openapi/responses';
import type { ModelCatalog } from './model-catalog';

/** `/api/models`: the models a user may ask for here, with the providers that serve each. */
export function modelRoutes(docs: OpenAPIRegistry, user: AuthGuard, catalog: ModelCatalog): RouteTable<true> {
  const routes = RouteTable.guarded(docs, '/api/models', 'Models', user);
  routes.get('/', {
    summary: 'The models you may ask for, with the providers that serve each',
    description:
      'The default model (`default: true`) first, then the others a create may name in `model`. `providers` lists ' +
      'who serves each for text-to-image here, in the order a generation tries them; empty when none does (a create ' +
      'naming that model is refused with 422). OpenAI Images models are listed when this deployment has an OpenAI key.',
    responses: {
      200: success('The models', ModelList),
      ...refusals({
        ...BEARER_REFUSALS,
        503: 'A dependency (MongoDB, Redis, the Hugging Face Hub’s model mapping) is unavailable: retry after Retry-After',
      }),
    },
    handler: async ({ res }) => {
      respond<ModelList>(res, 200, 'Models', await catalog.list());
    },
  });
  return routes;
}
