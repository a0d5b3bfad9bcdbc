import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { UsageQuery, UsageReport } from '@imagegen/shared';
import type { AuthGuard } from '../http/auth';
import { respond } from '../http/respond';
import { RouteTable } from '../http/route';
import { BEARER_REFUSALS, refusals, success } from '../openapi/responses';
import type { UsageService } from './usage.service';

export const USAGE_DESCRIPTION =
  'Totals of the runs that ended from `from` to `to` (UTC days, both included; at most 366 days; ' +
  'by default the current month): images stored, runs by outcome, and time spent at providers, as ' +
  'a whole and by day, model and provider. A run that failed or was canceled stored no images.';

/** `/api/usage`: the caller's own usage and image quotas. */
export function usageRoutes(docs: OpenAPIRegistry, user: AuthGuard, usage: UsageService): RouteTable<true> {
  const routes = RouteTable.guarded(docs, '/api/usage', 'Usage', user);

  routes.get('/', {
    summary: 'Your usage, and your image quotas',
    description:
      `${USAGE_DESCRIPTION} \`quota\` is where your image quotas stand now: per UTC day and month, the ` +
      'limit (null: none), the images used (those of runs that completed or are still running), what ' +
      'is left, and when the period ends.',
    query: UsageQuery,
    responses: {
      200: success('Your usage in the range, and your quotas now', UsageReport),
      ...refusals({
        400: 'A query parameter is invalid or unknown, or the range is reversed or too long',
        ...BEARER_REFUSALS,
      }),
    },
    handler: async ({ query, auth, res }) => respond(res, 200, 'Usage', await usage.own(auth.sub, query)),
  });

  return routes;
}
