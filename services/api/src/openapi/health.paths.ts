import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { Liveness, Readiness } from '@imagegen/shared';
import { json, success } from './responses';

const tags = ['Health'];

export function registerHealthPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/healthz',
    tags,
    summary: 'Liveness: the process answers',
    responses: { 200: success('Alive', Liveness) },
  });

  registry.registerPath({
    method: 'get',
    path: '/readyz',
    tags,
    summary: 'Readiness: MongoDB and Redis answer, password hashing has room, and the process is not shutting down',
    responses: {
      200: { description: 'Ready', content: json(Readiness) },
      503: {
        description:
          'Send it no work: a dependency is unreachable, its password hashing is saturated, or it is shutting down',
        content: json(Readiness),
      },
    },
  });
}
