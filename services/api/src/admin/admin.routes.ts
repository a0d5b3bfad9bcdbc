import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import {
  AdminUsageReport,
  AdminUser,
  Generation,
  GenerationPage,
  QueuesOverview,
  UpdateUserRequest,
  UsageQuery,
} from '@imagegen/shared';
import type { AuthGuard } from '../http/auth';
import { IdParams } from '../http/id-params';
import { respond, respondGeneration } from '../http/respond';
import { RouteTable } from '../http/route';
import { BEARER_REFUSALS, BODY_REFUSALS, refusals, success } from '../openapi/responses';
import { USAGE_DESCRIPTION } from '../usage/usage.routes';
import type { UsageService } from '../usage/usage.service';
import { AdminGenerationsQuery } from './admin.schemas';
import type { AdminService } from './admin.service';

/** Every admin route: the role is read from the database at each request. */
const ADMIN_REFUSALS = { ...BEARER_REFUSALS, 403: 'Admins only' } as const;

/** `/api/admin`: the admin JSON API for scripts (behind the `admin` guard: bearer tokens only). */
export function adminRoutes(
  docs: OpenAPIRegistry,
  admin: AuthGuard,
  service: AdminService,
  usage: UsageService,
): RouteTable<true> {
  const routes = RouteTable.guarded(docs, '/api/admin', 'Admin', admin);

  routes.get('/queues', {
    summary: 'Every queue: jobs per state, workers, paused',
    responses: { 200: success('The queues', QueuesOverview), ...refusals(ADMIN_REFUSALS) },
    handler: async ({ res }) => {
      respond<QueuesOverview>(res, 200, 'Queues', { queues: await service.overview() });
    },
  });

  routes.get('/generations', {
    summary: 'Every user’s generations, newest first',
    query: AdminGenerationsQuery,
    responses: {
      200: success('A page; `user` (an id or email) narrows it to one user', GenerationPage),
      ...refusals({ 400: 'A query parameter is invalid or unknown', ...ADMIN_REFUSALS }),
    },
    handler: async ({ query, res }) => respond(res, 200, 'Generations', await service.listGenerations(query)),
  });

  routes.post('/generations/:id/retry', {
    summary: 'Run anyone’s failed or canceled generation again',
    params: IdParams,
    responses: {
      202: success('Queued again', Generation),
      ...refusals({
        ...BODY_REFUSALS,
        400: 'Not a generation id',
        ...ADMIN_REFUSALS,
        404: 'No such generation',
        409: 'Only a failed or canceled generation can be retried, and one that has not had the most runs allowed',
        429: 'Its owner has as many generations pending or processing as allowed, or its images would go past an image quota of its owner',
      }),
    },
    handler: async ({ params, res }) => {
      respondGeneration(res, 202, 'Generation queued again', await service.retryGeneration(params.id));
    },
  });

  routes.get('/usage', {
    summary: 'Everyone’s usage, with the users of the most images',
    description: `${USAGE_DESCRIPTION} \`top_users\`: the ten users with the most images in the range.`,
    query: UsageQuery,
    responses: {
      200: success('Usage in the range, all users together', AdminUsageReport),
      ...refusals({
        400: 'A query parameter is invalid or unknown, or the range is reversed or too long',
        ...ADMIN_REFUSALS,
      }),
    },
    handler: async ({ query, res }) => respond(res, 200, 'Usage', await usage.everyone(query)),
  });

  routes.patch('/users/:id', {
    summary: 'Grant or revoke the admin role, or set the user’s image quotas',
    description:
      '`quota` sets the user’s own limits of images per UTC day and month; null puts back the ' +
      'default (QUOTA_IMAGES_PER_DAY, QUOTA_IMAGES_PER_MONTH), and a field left out stays as it was. ' +
      'They apply from the next create, on every API instance.',
    params: IdParams,
    body: UpdateUserRequest,
    responses: {
      200: success('The user as updated, with their quota overrides', AdminUser),
      ...refusals({
        ...BODY_REFUSALS,
        ...ADMIN_REFUSALS,
        404: 'No such user',
        409: 'An admin cannot revoke their own role',
      }),
    },
    handler: async (request) => {
      const user = await service.updateUser(request.auth.sub, request.params.id, request.body);
      if (request.body.quota) await usage.overridesChanged(user.id, user.quota);
      respond(request.res, 200, 'User updated', user);
    },
  });

  routes.delete('/users/:id', {
    summary: 'Delete any account, with everything it owns',
    description: 'As `DELETE /api/users/me` does for its owner, without asking for the password.',
    params: IdParams,
    responses: {
      204: { description: 'Deleted, with everything the account owned' },
      ...refusals({ 400: 'Not a user id', ...ADMIN_REFUSALS, 404: 'No such user' }),
    },
    handler: async ({ params, res }) => {
      await service.deleteUser(params.id);
      res.status(204).end();
    },
  });

  return routes;
}
