import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { Generation, GenerationPage, PublicUser, QueuesOverview, UpdateUserRequest } from '@imagegen/shared';
import { AdminGenerationsQuery } from '../admin/admin.schemas';
import { IdParams } from '../http/id-params';
import { BEARER } from './components';
import { BEARER_REFUSALS, BODY_REFUSALS, json, refusals, success } from './responses';

const tags = ['Admin'];
const security = [{ [BEARER]: [] }];
/** Every admin route: the role is read from the database at each request. */
const ADMIN_REFUSALS = { ...BEARER_REFUSALS, 403: 'Admins only' } as const;

export function registerAdminPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/api/admin/queues',
    tags,
    security,
    summary: 'Every queue: jobs per state, workers, paused',
    responses: { 200: success('The queues', QueuesOverview), ...refusals(ADMIN_REFUSALS) },
  });

  registry.registerPath({
    method: 'get',
    path: '/api/admin/generations',
    tags,
    security,
    summary: 'Every user’s generations, newest first',
    request: { query: AdminGenerationsQuery },
    responses: {
      200: success('A page; `user` (an id or email) narrows it to one user', GenerationPage),
      ...refusals({ 400: 'A query parameter is invalid or unknown', ...ADMIN_REFUSALS }),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/admin/generations/{id}/retry',
    tags,
    security,
    summary: 'Run anyone’s failed or canceled generation again',
    request: { params: IdParams },
    responses: {
      202: success('Queued again', Generation),
      ...refusals({
        ...BODY_REFUSALS,
        400: 'Not a generation id',
        ...ADMIN_REFUSALS,
        404: 'No such generation',
        409: 'Only a failed or canceled generation can be retried, and one that has not had the most runs allowed',
        429: 'Its owner has as many generations pending or processing as allowed',
      }),
    },
  });

  registry.registerPath({
    method: 'patch',
    path: '/api/admin/users/{id}',
    tags,
    security,
    summary: 'Grant or revoke the admin role',
    request: { params: IdParams, body: { required: true, content: json(UpdateUserRequest) } },
    responses: {
      200: success('The user as updated', PublicUser),
      ...refusals({
        ...BODY_REFUSALS,
        ...ADMIN_REFUSALS,
        404: 'No such user',
        409: 'An admin cannot revoke their own role',
      }),
    },
  });
}
