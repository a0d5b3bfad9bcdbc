import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { ModelList } from '@imagegen/shared';
import { BEARER } from './components';
import { BEARER_REFUSALS, refusals, success } from './responses';

export function registerModelPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/api/models',
    tags: ['Models'],
    security: [{ [BEARER]: [] }],
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
  });
}
