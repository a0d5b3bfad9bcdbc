import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { DeleteAccountRequest } from '@imagegen/shared';
import type { AuthGuard } from '../http/auth';
import { RouteTable } from '../http/route';
import { BEARER_REFUSALS, BODY_REFUSALS, refusals } from '../openapi/responses';
import type { AccountDeletionService } from './account-deletion.service';

const DELETE_DESCRIPTION =
  'Deletes the account and everything it owns: generations (in flight ones canceled first), images, ' +
  'webhook logs. Confirm with `password`; without it, only a token issued in the last five minutes ' +
  'is enough. From the moment it begins, the account is closed: its tokens stop working, and its ' +
  'email signs in to nothing.';

/** `/api/users`: the caller's own account. */
export function userRoutes(
  docs: OpenAPIRegistry,
  user: AuthGuard,
  deletions: AccountDeletionService,
): RouteTable<true> {
  const routes = RouteTable.guarded(docs, '/api/users', 'Auth', user);

  routes.delete('/me', {
    summary: 'Delete your account',
    description: DELETE_DESCRIPTION,
    body: DeleteAccountRequest,
    optionalBody: true,
    responses: {
      204: { description: 'Deleted, with everything the account owned' },
      ...refusals({
        ...BODY_REFUSALS,
        ...BEARER_REFUSALS,
        401: 'Missing, invalid or expired bearer token, or a wrong `password` (`errors` names it)',
        403: 'No password, and the token was issued more than five minutes ago: confirm with the password or sign in again',
        429: 'Too many wrong passwords for this account or address',
        503: 'A dependency (MongoDB, Redis) is unavailable, or too many passwords are being hashed at once: retry after Retry-After',
      }),
    },
    handler: async (request) => {
      await deletions.deleteOwn(request.auth, request.body.password, request.req.ip);
      request.res.status(204).end();
    },
  });

  return routes;
}
